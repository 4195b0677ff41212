package device

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Transports a device can be told to fetch its config with (--transport).
const (
	// TransportAuto does what DHCP says: HTTP for an http(s):// URL in
	// option 67 or 59, or for Juniper's option 43 sub-option 03 http(s);
	// TFTP otherwise.
	TransportAuto = "auto"
	// TransportHTTP fetches over HTTP whatever DHCP says: a bare name is
	// asked for at http://<server>[:<43.05>]/<name>.
	TransportHTTP = "http"
	// TransportTFTP fetches over TFTP whatever DHCP says: of an http://
	// URL, its path from its host.
	TransportTFTP = "tftp"
)

// Transports lists them for help texts.
var Transports = []string{TransportAuto, TransportHTTP, TransportTFTP}

// juniperZTP is what Juniper's option 43 carries for ZTP (Juniper: "ZTP
// DHCP options"; plugins/README.md, "What each vendor takes").
type juniperZTP struct {
	image    string // 00: image file name, relative to the server
	config   string // 01: config file name
	mode     string // 03: transfer mode, tftp (also when absent), ftp, http, https
	imageAlt string // 04: image file name, for servers that cannot send 00
	port     string // 05: the HTTP port
}

// parseJuniper43 reads the sub-options of Juniper's option 43 (each a
// code, a length and the value); a truncated one ends the reading.
func parseJuniper43(b []byte) juniperZTP {
	var z juniperZTP
	for len(b) >= 2 {
		code, n := b[0], int(b[1])
		if len(b) < 2+n {
			break
		}
		v := string(bytes.TrimRight(b[2:2+n], "\x00"))
		switch code {
		case 0x00:
			z.image = v
		case 0x01:
			z.config = v
		case 0x03:
			z.mode = strings.ToLower(v)
		case 0x04:
			z.imageAlt = v
		case 0x05:
			z.port = v
		}
		b = b[2+n:]
	}
	return z
}

// overHTTP reports whether Juniper's transfer mode is HTTP or HTTPS.
func (z juniperZTP) overHTTP() bool { return z.mode == "http" || z.mode == "https" }

// httpURL is the URL of a name on the server DHCP named: the scheme of
// Juniper's transfer mode when it is one of HTTP's (else http), the port
// of its sub-option 05 when set.
func (l *dhcpLease) httpURL(name string) string {
	scheme := "http"
	if l.juniper.overHTTP() {
		scheme = l.juniper.mode
	}
	host := l.server.String()
	if l.juniper.port != "" {
		host = net.JoinHostPort(host, l.juniper.port)
	} else if l.server.Is6() {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + "/" + strings.TrimPrefix(name, "/")
}

// targets are what the device fetches its config from, in the vendor's
// order, after the transport: bare names go over TFTP, URLs over HTTP.
func (cfg *Config) targets(l *dhcpLease) []string {
	var out []string
	for _, f := range l.files {
		if t := cfg.route(l, f); t != "" && !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (cfg *Config) route(l *dhcpLease, f string) string {
	switch {
	case isHTTP(f) && cfg.Transport == TransportTFTP:
		u, err := url.Parse(f)
		if err != nil {
			return ""
		}
		return strings.TrimPrefix(u.Path, "/")
	case isHTTP(f):
		return f
	case cfg.Transport == TransportHTTP, f == l.juniper.config && l.juniper.overHTTP() && cfg.Transport != TransportTFTP:
		return l.httpURL(f)
	}
	return f
}

// imageURL is the image DHCP offered (Juniper 43.00, else 43.04: Juniper
// ignores 04 when 00 is set), or the one the device was given (--image),
// as a URL; "" when there is none. The emulator fetches images over HTTP
// only: an image offered for TFTP is an error.
func (cfg *Config) imageURL(l *dhcpLease) (string, error) {
	if cfg.ImageURL != "" {
		return cfg.ImageURL, nil
	}
	name := l.juniper.image
	if name == "" {
		name = l.juniper.imageAlt
	}
	switch {
	case name == "":
		return "", nil
	case isHTTP(name):
		return name, nil
	case l.juniper.overHTTP() || cfg.Transport == TransportHTTP:
		return l.httpURL(name), nil
	}
	return "", fmt.Errorf("image %s offered with transfer mode %q: the emulator fetches images over HTTP only", name, l.juniper.mode)
}
