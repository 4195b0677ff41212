package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

func (d DHCP) validate(p *problems, tftp TFTP) {
	if d.ReceiveBuffer < 0 || d.ReceiveBuffer > GiB {
		p.add("dhcp.receive_buffer", "must be between 0 and 1GiB (0: the kernel's default)")
	}
	if !d.Enabled {
		return
	}
	if len(d.V4.Interfaces) == 0 && len(d.V6.Interfaces) == 0 {
		p.add("dhcp.enabled", "true, but neither dhcp.v4.interfaces nor dhcp.v6.interfaces names an interface (sealboot never answers DHCP on an interface nobody named)")
	}
	d.validateBootfile(p, tftp)
	if d.TFTPServer != "" {
		addr(p, "dhcp.tftp_server", d.TFTPServer, 4)
	}
	if strings.ContainsRune(d.Inventory, 0) {
		p.add("dhcp.inventory", "contains a NUL byte")
	}
	if len(d.V4.Interfaces) > 0 {
		d.V4.validate(p)
	}
	if len(d.V6.Interfaces) > 0 {
		d.V6.validate(p)
	}
}

// validateBootfile checks that the bootfile DHCP hands out is a name the
// TFTP server will answer: otherwise every device would fetch a file that is
// refused.
func (d DHCP) validateBootfile(p *problems, tftp TFTP) {
	b := d.Bootfile
	if !safeName(strings.ReplaceAll(b, "{serial}", "x")) || strings.Count(b, "{serial}") > 1 {
		p.add("dhcp.bootfile", "template %q may only use letters, digits, '.', '_', '-' and one {serial}", b)
		return
	}
	for _, n := range append(append([]string{}, tftp.Names...), tftp.FixedNames...) {
		if n == b {
			return
		}
	}
	p.add("dhcp.bootfile", "template %q matches neither tftp.names nor tftp.fixed_names: devices would request a file the TFTP server refuses", b)
}

func (v DHCPv4) validate(p *problems) {
	for i, name := range v.Interfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \x00") {
			p.add(fmt.Sprintf("dhcp.v4.interfaces[%d]", i), "invalid interface name %q", name)
		}
	}
	link := ""
	if v.ServerID != "" {
		// With the server's address known, the pool and router must be
		// on its link (without it, that is checked at start).
		if sid, ok := addr(p, "dhcp.v4.server_id", v.ServerID, 4); ok {
			if m := net.ParseIP(v.Netmask).To4(); m != nil {
				if ones, bits := net.IPMask(m).Size(); bits == 32 && ones > 0 {
					link = netip.PrefixFrom(sid, ones).Masked().String()
				}
			}
		}
	}
	subnet4(p, "dhcp.v4", Subnet4{Pool: v.Pool, Netmask: v.Netmask, Router: v.Router, DNS: v.DNS, LeaseTime: v.LeaseTime}, link)
	for i, s := range v.Subnets {
		key := fmt.Sprintf("dhcp.v4.subnets[%d]", i)
		if s.LeaseTime == 0 {
			s.LeaseTime = v.LeaseTime
		}
		subnet4(p, key, s, s.Network)
	}
}

// subnet4 checks one IPv4 subnet's pool and options; network, when set, is
// the CIDR the pool must lie in.
func subnet4(p *problems, key string, s Subnet4, network string) {
	start, end, ok := pool(p, key+".pool", s.Pool, 4)
	if network != "" {
		pfx, err := netip.ParsePrefix(network)
		switch {
		case err != nil || !pfx.Addr().Is4():
			p.add(key+".network", "invalid IPv4 network %q (want CIDR, e.g. 10.1.0.0/24)", network)
		case ok && !(pfx.Contains(start) && pfx.Contains(end)):
			p.add(key+".pool", "%q is not inside network %s", s.Pool, network)
		}
	}
	if s.Netmask == "" {
		p.add(key+".netmask", "is required")
	} else if m := net.ParseIP(s.Netmask).To4(); m == nil {
		p.add(key+".netmask", "invalid netmask %q", s.Netmask)
	} else if ones, bits := net.IPMask(m).Size(); bits == 0 || ones == 0 {
		p.add(key+".netmask", "invalid netmask %q (not a contiguous mask)", s.Netmask)
	}
	if s.Router != "" {
		if r, ok := addr(p, key+".router", s.Router, 4); ok && network != "" {
			if pfx, err := netip.ParsePrefix(network); err == nil && !pfx.Contains(r) {
				p.add(key+".router", "%s is not inside network %s", s.Router, network)
			}
		}
	}
	for i, d := range s.DNS {
		addr(p, fmt.Sprintf("%s.dns[%d]", key, i), d, 4)
	}
	positive(p, key+".lease_time", s.LeaseTime)
}

func (v DHCPv6) validate(p *problems) {
	for i, name := range v.Interfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \x00") {
			p.add(fmt.Sprintf("dhcp.v6.interfaces[%d]", i), "invalid interface name %q", name)
		}
	}
	subnet6(p, "dhcp.v6", Subnet6{Pool: v.Pool, DNS: v.DNS, LeaseTime: v.LeaseTime}, "")
	if v.TFTPServer != "" {
		addr(p, "dhcp.v6.tftp_server", v.TFTPServer, 6)
	}
	for i, s := range v.Subnets {
		if s.LeaseTime == 0 {
			s.LeaseTime = v.LeaseTime
		}
		subnet6(p, fmt.Sprintf("dhcp.v6.subnets[%d]", i), s, s.Network)
	}
}

// subnet6 checks one IPv6 link's pool and options; network, when set, is
// the prefix the pool must lie in.
func subnet6(p *problems, key string, s Subnet6, network string) {
	start, end, ok := pool(p, key+".pool", s.Pool, 6)
	if network != "" {
		pfx, err := netip.ParsePrefix(network)
		switch {
		case err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6():
			p.add(key+".network", "invalid IPv6 network %q (want a prefix, e.g. 2001:db8:1::/64)", network)
		case ok && !(pfx.Contains(start) && pfx.Contains(end)):
			p.add(key+".pool", "%q is not inside network %s", s.Pool, network)
		}
	}
	for i, d := range s.DNS {
		addr(p, fmt.Sprintf("%s.dns[%d]", key, i), d, 6)
	}
	positive(p, key+".lease_time", s.LeaseTime)
}

// pool parses "start-end" of the given IP family.
func pool(p *problems, key, s string, family int) (start, end netip.Addr, ok bool) {
	if s == "" {
		p.add(key, "is required (start-end)")
		return start, end, false
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		p.add(key, "invalid pool %q (want start-end)", s)
		return start, end, false
	}
	start, ok1 := addr(p, key, strings.TrimSpace(a), family)
	end, ok2 := addr(p, key, strings.TrimSpace(b), family)
	if !ok1 || !ok2 {
		return start, end, false
	}
	if end.Less(start) {
		p.add(key, "pool %q ends before it starts", s)
		return start, end, false
	}
	return start, end, true
}

// addr parses an IP address of the given family (4 or 6).
func addr(p *problems, key, s string, family int) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || (family == 4 && !a.Is4()) || (family == 6 && (!a.Is6() || a.Is4In6())) {
		p.add(key, "invalid IPv%d address %q", family, s)
		return a, false
	}
	return a, true
}
