package bootstrap

import (
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

// DHCPv6 option codes a profile sets (RFC 8415 section 24, RFC 3646,
// RFC 4075, RFC 5908).
const (
	opt6DNS          = 23
	opt6DomainSearch = 24
	opt6SNTP         = 31
	opt6NTP          = 56
	ntpSubServerAddr = 1 // RFC 5908 section 4.1
)

// v4 encodes the options for DHCPv4: the IPv4 addresses of each list,
// the domain, then the raw options (which the check keeps from repeating
// a code set above).
func (o *Options) v4() []dhcpv4.Option {
	var out []dhcpv4.Option
	for _, l := range []struct {
		code dhcpv4.OptionCode
		list []netip.Addr
	}{{dhcpv4.OptionNTPServers, o.NTP}, {dhcpv4.OptionDomainNameServer, o.DNS}, {dhcpv4.OptionLogServer, o.Log}} {
		if v := addrBytes(l.list, true); len(v) > 0 {
			out = append(out, dhcpv4.OptGeneric(l.code, v))
		}
	}
	if o.Domain != "" { // RFC 2132 section 3.17: the name as text
		out = append(out, dhcpv4.OptGeneric(dhcpv4.OptionDomainName, []byte(strings.TrimSuffix(o.Domain, "."))))
	}
	for _, r := range o.Raw4 {
		out = append(out, dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(r.Code), r.Value))
	}
	return out
}

// v6 encodes the options for DHCPv6 from the IPv6 addresses of each list:
// NTP servers both as option 56 with one server-address sub-option each
// (RFC 5908) and as the older SNTP option 31 (RFC 4075), which clients
// such as ISC dhclient know; the domain as a search list of one (RFC 3646
// section 4, names in RFC 1035 section 3.1 form, uncompressed).
func (o *Options) v6() []dhcpv6.Option {
	var out []dhcpv6.Option
	add := func(code dhcpv6.OptionCode, data []byte) {
		out = append(out, &dhcpv6.OptionGeneric{OptionCode: code, OptionData: data})
	}
	if v := addrBytes(o.NTP, false); len(v) > 0 {
		var ntp []byte
		for i := 0; i < len(v); i += 16 {
			ntp = append(ntp, 0, ntpSubServerAddr, 0, 16)
			ntp = append(ntp, v[i:i+16]...)
		}
		add(opt6NTP, ntp)
		add(opt6SNTP, v)
	}
	if v := addrBytes(o.DNS, false); len(v) > 0 {
		add(opt6DNS, v)
	}
	if o.Domain != "" {
		add(opt6DomainSearch, domainWire(o.Domain))
	}
	for _, r := range o.Raw6 {
		add(dhcpv6.OptionCode(r.Code), r.Value)
	}
	return out
}

// addrBytes concatenates the IPv4 (v4) or IPv6 addresses of a list.
func addrBytes(list []netip.Addr, v4 bool) []byte {
	var out []byte
	for _, a := range list {
		if a.Is4() == v4 {
			out = append(out, a.AsSlice()...)
		}
	}
	return out
}

// domainWire is a domain name in RFC 1035 section 3.1 form: each label
// preceded by its length, ended by the root's zero length.
func domainWire(name string) []byte {
	var out []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	return append(out, 0)
}
