package main

import (
	"net"
	"net/netip"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/plugins/bootstrap"
)

// httpEndpoint is what DHCP tells devices of the built-in HTTP server:
// https when it has a certificate, and the port of its first listen
// address.
func httpEndpoint(h config.HTTP) bootstrap.HTTP {
	out := bootstrap.HTTP{Scheme: "http"}
	if h.TLSCert != "" {
		out.Scheme = "https"
	}
	if len(h.Listen) > 0 {
		if _, port, err := net.SplitHostPort(h.Listen[0]); err == nil {
			out.Port, _ = strconv.Atoi(port)
		}
	}
	return out
}

// sztpEndpoint is what DHCP tells devices of the SZTP server (options 143
// and 136): whether it runs, and the port of its first listen address.
func sztpEndpoint(s config.SZTP) bootstrap.SZTP {
	out := bootstrap.SZTP{Enabled: len(s.Listen) > 0}
	if out.Enabled {
		if _, port, err := net.SplitHostPort(s.Listen[0]); err == nil {
			out.Port, _ = strconv.Atoi(port)
		}
	}
	return out
}

// profiles maps the validated profiles onto the DHCP plugin's.
func profiles(in []config.Profile) []bootstrap.Profile {
	out := make([]bootstrap.Profile, 0, len(in))
	for _, p := range in {
		t := bootstrap.TransportTFTP
		switch p.Transport {
		case "http":
			t = bootstrap.TransportHTTP
		case "sztp":
			t = bootstrap.TransportSZTP
		}
		out = append(out, bootstrap.Profile{
			Name: p.Name, Vendor: p.Vendor, Model: p.Model, Serials: p.Serials,
			Transport: t, Image: p.Image, ImageAlt: p.ImageAlt, Options: profileOptions(p.Options),
		})
	}
	return out
}

func profileOptions(o config.ProfileOptions) bootstrap.Options {
	return bootstrap.Options{
		NTP: addrs(o.NTP), DNS: addrs(o.DNS), Log: addrs(o.Log), Domain: o.Domain,
		Raw4: rawOptions(o.Raw), Raw6: rawOptions(o.Raw6),
	}
}

// addrs parses addresses the configuration check has accepted.
func addrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func rawOptions(in []config.RawOption) []bootstrap.RawOption {
	var out []bootstrap.RawOption
	for _, r := range in {
		if v, err := r.Bytes(); err == nil {
			out = append(out, bootstrap.RawOption{Code: uint16(r.Code), Value: v})
		}
	}
	return out
}

// warnUnknownProfiles logs each profile whose serials all belong to no
// device sealboot knows (no certificate, no config, not in the inventory):
// most likely a typing error. A warning, not an error: the device's files
// may come later.
func warnUnknownProfiles(ps []config.Profile, known func(serial string) bool, log *zap.Logger) {
	for _, p := range ps {
		if len(p.Serials) > 0 && !slices.ContainsFunc(p.Serials, known) {
			log.Warn("profile matches no known device: none of its serials has a certificate, a config or an inventory entry",
				zap.String("profile", p.Name), zap.Strings("serials", p.Serials))
		}
	}
}
