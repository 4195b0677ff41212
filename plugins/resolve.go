package plugins

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/sealboot/sealboot/plugins/bootstrap"
)

// pluginConfig turns the configuration into the plugin's, filling what
// comes from the interfaces: the DHCPv4 server identifier, the DHCPv6
// TFTP address and the server DUID.
func (s *Server) pluginConfig(cfg Config) (bootstrap.Config, error) {
	out := bootstrap.Config{Bootfile: cfg.Bootfile, ServeUnknown: cfg.ServeUnknown, HTTP: cfg.HTTP, SZTP: cfg.SZTP, Profiles: cfg.Profiles}
	if len(cfg.V4.Interfaces) > 0 {
		v4, err := v4Config(cfg)
		if err != nil {
			return out, err
		}
		out.V4 = v4
	}
	if len(cfg.V6.Interfaces) > 0 {
		v6, err := v6Config(cfg)
		if err != nil {
			return out, err
		}
		out.V6 = v6
	}
	return out, out.Validate()
}

func v4Config(cfg Config) (*bootstrap.V4, error) {
	sid := cfg.V4.ServerID
	if !sid.IsValid() {
		a, err := interfaceAddr(cfg.V4.Interfaces[0], func(a netip.Addr) bool { return a.Is4() })
		if err != nil {
			return nil, fmt.Errorf("dhcp.v4.server_id is empty and %w", err)
		}
		sid = a
	}
	if ones, bits := cfg.V4.Netmask.Size(); bits == 32 {
		link := netip.PrefixFrom(sid, ones).Masked()
		if !link.Contains(cfg.V4.Pool.Start) || !link.Contains(cfg.V4.Pool.End) {
			return nil, fmt.Errorf("dhcp.v4.pool %s is not on the interface's link, %s (dhcp.v4.server_id %s, dhcp.v4.netmask): its devices could not reach sealboot", cfg.V4.Pool, link, sid)
		}
		if r := cfg.V4.Router; r.IsValid() && !link.Contains(r) {
			return nil, fmt.Errorf("dhcp.v4.router %s is not on the interface's link, %s (dhcp.v4.server_id %s, dhcp.v4.netmask)", r, link, sid)
		}
	}
	tftp := cfg.TFTPServer
	if !tftp.IsValid() {
		tftp = sid
	}
	return &bootstrap.V4{
		ServerID: sid, TFTPServer: tftp, Relayed: cfg.V4.Subnets,
		Direct: &bootstrap.Subnet{Pool: cfg.V4.Pool, Netmask: cfg.V4.Netmask, Router: cfg.V4.Router, DNS: cfg.V4.DNS, LeaseTime: cfg.V4.LeaseTime},
	}, nil
}

func v6Config(cfg Config) (*bootstrap.V6, error) {
	name := cfg.V6.Interfaces[0]
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("dhcp.v6.interfaces: %w", err)
	}
	if len(ifi.HardwareAddr) == 0 {
		return nil, fmt.Errorf("dhcp.v6.interfaces: %s has no hardware address for the server DUID", name)
	}
	tftp := cfg.V6.TFTPServer
	if !tftp.IsValid() {
		if tftp, err = interfaceAddr(name, func(a netip.Addr) bool { return a.Is6() && a.IsGlobalUnicast() }); err != nil {
			return nil, fmt.Errorf("dhcp.v6.tftp_server is empty and %w", err)
		}
	}
	return &bootstrap.V6{
		ServerDUID: &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: ifi.HardwareAddr}, // RFC 8415 11.4
		Pool:       cfg.V6.Pool, DNS: cfg.V6.DNS, TFTPServer: tftp, BootfileParams: cfg.V6.BootfileParams, LeaseTime: cfg.V6.LeaseTime,
		RapidCommit: cfg.V6.RapidCommit, Relayed: cfg.V6.Subnets,
		OnLink: func(ip netip.Addr) bool { return onLink(cfg.V6.Interfaces, ip) },
	}, nil
}

// onLink says whether ip is in a prefix of one of the interfaces' global
// addresses, as they are now.
func onLink(ifaces []string, ip netip.Addr) bool {
	for _, a := range globalAddrs6(ifaces) {
		if a.net.Contains(ip.AsSlice()) {
			return true
		}
	}
	return false
}

// ifaceAddr6 is a global IPv6 address of an interface.
type ifaceAddr6 struct {
	iface string
	net   *net.IPNet
}

// globalAddrs6 lists the interfaces' global IPv6 addresses (ULAs too);
// an interface that is gone has none.
func globalAddrs6(ifaces []string) []ifaceAddr6 {
	var out []ifaceAddr6
	for _, name := range ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.IsGlobalUnicast() {
				out = append(out, ifaceAddr6{name, n})
			}
		}
	}
	return out
}

// interfaceAddr returns the first address of the interface that ok accepts.
func interfaceAddr(name string, ok func(netip.Addr) bool) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, isNet := a.(*net.IPNet); isNet {
			if ip, _ := netip.AddrFromSlice(n.IP); ok(ip.Unmap()) {
				return ip.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no suitable address", name)
}
