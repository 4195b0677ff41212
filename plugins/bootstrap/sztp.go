package bootstrap

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// TransportSZTP is a profile whose devices are told where the SZTP
// bootstrap server is (RFC 8572 section 8): DHCPv4 option 143 and DHCPv6
// option 136, sent whether or not they asked.
const TransportSZTP Transport = "sztp"

// Option codes of the SZTP redirect options (RFC 8572 sections 8.1, 8.2).
const (
	OptionSZTPRedirect4 = 143
	OptionSZTPRedirect6 = 136
)

// SZTP is the SZTP bootstrap server the options point at.
type SZTP struct {
	Enabled bool
	Port    int // of its first listen address; 0 or 443: left out of the URI
}

// uri is the bootstrap server's URI at addr: https, the host and the port
// only (RFC 8572 section 8.3).
func (s SZTP) uri(addr netip.Addr) string {
	host := addr.String()
	if addr.Is6() {
		host = "[" + host + "]"
	}
	if s.Port != 0 && s.Port != 443 {
		host += ":" + strconv.Itoa(s.Port)
	}
	return "https://" + host
}

// sztpRedirect is the options' value, bootstrap-server-list (RFC 8572
// section 8.3): each URI preceded by its length in two bytes.
func sztpRedirect(uris ...string) []byte {
	var out []byte
	for _, u := range uris {
		out = binary.BigEndian.AppendUint16(out, uint16(len(u)))
		out = append(out, u...)
	}
	return out
}

// sztpFor says whether a device is told of the SZTP server: its profile's
// transport is sztp, or it asked for the option.
func (c *Config) sztpFor(prof *Profile, requested bool) bool {
	return c.SZTP.Enabled && (requested || prof != nil && prof.Transport == TransportSZTP)
}
