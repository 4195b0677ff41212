package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/plugins"
	"github.com/sealboot/sealboot/plugins/bootstrap"
	"github.com/sealboot/sealboot/plugins/leases"
)

// dhcpConfig maps the dhcp section, already validated, onto the DHCP
// server's configuration.
func dhcpConfig(cfg *config.Config) (plugins.Config, error) {
	d := cfg.DHCP
	out := plugins.Config{
		StateDir: cfg.StateDir, Bootfile: d.Bootfile, Inventory: d.Inventory, ServeUnknown: d.ServeUnknown,
		ReceiveBuffer: int(d.ReceiveBuffer), HTTP: httpEndpoint(cfg.HTTP), SZTP: sztpEndpoint(cfg.SZTP), Profiles: profiles(cfg.Profiles),
		V4: plugins.V4Config{Interfaces: d.V4.Interfaces, LeaseTime: d.V4.LeaseTime},
		V6: plugins.V6Config{Interfaces: d.V6.Interfaces, BootfileParams: d.V6.BootfileParams, LeaseTime: d.V6.LeaseTime,
			RapidCommit: d.V6.RapidCommit},
	}
	var err error
	parse := func(s string) netip.Addr {
		if s == "" || err != nil {
			return netip.Addr{}
		}
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		return a
	}
	out.TFTPServer = parse(d.TFTPServer)
	if len(d.V4.Interfaces) > 0 {
		out.V4.ServerID, out.V4.Router = parse(d.V4.ServerID), parse(d.V4.Router)
		out.V4.DNS = parseAll(d.V4.DNS, parse)
		out.V4.Netmask = net.IPMask(net.ParseIP(d.V4.Netmask).To4())
		if out.V4.Pool, err = leases.ParsePool(d.V4.Pool); err != nil {
			return out, fmt.Errorf("dhcp.v4.pool: %w", err)
		}
		for i, s := range d.V4.Subnets {
			sub, serr := subnet4(s, d.V4.LeaseTime, parse)
			if serr != nil {
				return out, fmt.Errorf("dhcp.v4.subnets[%d]: %w", i, serr)
			}
			out.V4.Subnets = append(out.V4.Subnets, sub)
		}
	}
	if len(d.V6.Interfaces) > 0 {
		out.V6.TFTPServer = parse(d.V6.TFTPServer)
		out.V6.DNS = parseAll(d.V6.DNS, parse)
		if out.V6.Pool, err = leases.ParsePool(d.V6.Pool); err != nil {
			return out, fmt.Errorf("dhcp.v6.pool: %w", err)
		}
		for i, s := range d.V6.Subnets {
			sub := bootstrap.Subnet6{DNS: parseAll(s.DNS, parse), LeaseTime: s.LeaseTime}
			if sub.LeaseTime == 0 {
				sub.LeaseTime = d.V6.LeaseTime
			}
			if sub.Pool, err = leases.ParsePool(s.Pool); err == nil {
				sub.Network, err = netip.ParsePrefix(s.Network)
			}
			if err != nil {
				return out, fmt.Errorf("dhcp.v6.subnets[%d]: %w", i, err)
			}
			out.V6.Subnets = append(out.V6.Subnets, sub)
		}
	}
	return out, err
}

func subnet4(s config.Subnet4, defLease time.Duration, parse func(string) netip.Addr) (bootstrap.Subnet, error) {
	pool, err := leases.ParsePool(s.Pool)
	if err != nil {
		return bootstrap.Subnet{}, err
	}
	network, err := netip.ParsePrefix(s.Network)
	if err != nil {
		return bootstrap.Subnet{}, err
	}
	sub := bootstrap.Subnet{Network: network, Pool: pool, Netmask: net.IPMask(net.ParseIP(s.Netmask).To4()),
		Router: parse(s.Router), DNS: parseAll(s.DNS, parse), LeaseTime: s.LeaseTime}
	if sub.LeaseTime == 0 {
		sub.LeaseTime = defLease
	}
	return sub, nil
}

func parseAll(ss []string, parse func(string) netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, parse(s))
	}
	return out
}
