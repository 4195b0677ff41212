package device

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// defaultModel is the model each vendor presents unless told otherwise.
var defaultModel = map[string]string{
	VendorJuniper: "mx204", VendorArista: "DCS-7050SX3-48YC8", VendorCiscoNXOS: "N9K-C93180YC-EX",
	VendorCiscoXE: "C9300-24T", VendorNokia: "7750-SR-1",
}

// dhcp runs DHCPv4 or DHCPv6 and puts the leased address on the interface.
func (cfg *Config) dhcp(ctx context.Context, attempt int) (*dhcpLease, error) {
	if cfg.V6 {
		return cfg.dhcp6(ctx)
	}
	return cfg.dhcp4(ctx, attempt)
}

// dhcp4 is DISCOVER/OFFER/REQUEST/ACK on the interface, with no address
// yet: raw frames, replies broadcast (the broadcast flag is set).
func (cfg *Config) dhcp4(ctx context.Context, attempt int) (*dhcpLease, error) {
	shared := cfg.conns
	if shared == nil {
		var err error
		if shared, err = openConns(cfg.Interface); err != nil {
			return nil, err
		}
		defer shared.Close()
	}
	conn := shared.register(cfg.MAC)
	client, err := nclient4.NewWithConn(conn, cfg.MAC, nclient4.WithTimeout(cfg.DHCPTimeout/3), nclient4.WithRetry(3))
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.DHCPTimeout)
	defer cancel()
	lease, err := client.Request(ctx, cfg.modifiers4(attempt)...)
	if err != nil {
		return nil, fmt.Errorf("dhcpv4: %w", err)
	}
	ack := lease.ACK
	addr, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	server, files := bootInfo4(cfg.Vendor, ack)
	var uris []string
	switch {
	case cfg.SZTP != nil:
		if uris, err = sztpURIs(ack.Options.Get(dhcpv4.GenericOptionCode(optionSZTP4))); err != nil {
			return nil, fmt.Errorf("dhcpv4: option 143: %w", err)
		}
	case !server.IsValid():
		return nil, fmt.Errorf("dhcpv4: the server named no TFTP server (siaddr, option 66 or 150)")
	case len(files) == 0:
		return nil, fmt.Errorf("dhcpv4: the server named no file (option 67 or the file field)")
	}
	prefix := 24
	if m := ack.SubnetMask(); m != nil {
		prefix, _ = m.Size()
	}
	release, err := addAddress(cfg.Interface, addr, prefix)
	if err != nil {
		return nil, err
	}
	l := &dhcpLease{addr: addr, prefix: prefix, server: server, files: files, sztp: uris, release: release}
	if cfg.Vendor == VendorJuniper {
		l.juniper = parseJuniper43(ack.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	}
	return l, nil
}

// The SZTP redirect options (RFC 8572 sections 8.1 and 8.2).
const (
	optionSZTP4 = 143
	optionSZTP6 = 136
)

// modifiers4 presents the serial the vendor's way (see the vendor table in
// the sealboot README) and asks for the boot options.
func (cfg *Config) modifiers4(attempt int) []dhcpv4.Modifier {
	model := cfg.Model
	if model == "" {
		model = defaultModel[cfg.Vendor]
	}
	mods := []dhcpv4.Modifier{dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
		dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerAddress, dhcpv4.OptionVendorSpecificInformation)}
	clientID := func(b []byte) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, b))
	}
	if cfg.SZTP != nil {
		mods[0] = dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerAddress, dhcpv4.OptionVendorSpecificInformation,
			dhcpv4.GenericOptionCode(optionSZTP4))
	}
	if cfg.broadcast {
		mods = append(mods, dhcpv4.WithBroadcast(true))
	}
	switch cfg.Vendor {
	case VendorJuniper:
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-"+model+"-"+cfg.Serial)))
	case VendorArista:
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Arista;"+model+";11.01;"+cfg.Serial)))
	case VendorCiscoNXOS:
		mods = append(mods, clientID(append([]byte{0}, cfg.Serial...)))
	case VendorCiscoXE:
		if attempt%2 == 1 {
			mods = append(mods, clientID(append([]byte{0}, cfg.Serial...)))
		} else {
			mods = append(mods, clientID(append([]byte{0}, "cisco-"+ciscoMAC(cfg.MAC)+"-Gi1"...)))
		}
	case VendorNokia:
		mods = append(mods, clientID([]byte(cfg.Serial)))
	}
	return mods
}

// ciscoMAC writes a MAC the Cisco way: 0050.5685.3ab2.
func ciscoMAC(m net.HardwareAddr) string {
	h := strings.ReplaceAll(m.String(), ":", "")
	if len(h) != 12 {
		return h
	}
	return h[:4] + "." + h[4:8] + "." + h[8:]
}

// ciscoAutoInstall are the names Cisco AutoInstall tries when DHCP gives
// no file.
var ciscoAutoInstall = []string{"network-confg", "cisconet.cfg", "router-confg", "ciscortr.cfg"}

// bootInfo4 picks the TFTP server and the files to try, in the order each
// vendor does:
//   - Juniper: file from option 43 sub-option 01, else 67, else the file
//     field; server from 150, else 66, else siaddr;
//   - Cisco: file from 67, else the file field, else the AutoInstall names
//     (IOS-XE); server from 150, else 66, else siaddr;
//   - Arista: option 67 may be a URL (tftp://server/file), or http://,
//     fetched over HTTP (a boot profile whose transport is http);
//   - others: file from 67, else the file field; server siaddr, else 66,
//     else 150.
func bootInfo4(vendor string, ack *dhcpv4.DHCPv4) (netip.Addr, []string) {
	opt150 := func() (netip.Addr, bool) {
		b := ack.Options.Get(dhcpv4.OptionTFTPServerAddress)
		if len(b) < 4 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte(b[:4])), true
	}
	opt66 := func() (netip.Addr, bool) {
		if s := ack.TFTPServerName(); s != "" {
			return parseServer(s)
		}
		return netip.Addr{}, false
	}
	siaddr := func() (netip.Addr, bool) {
		a, ok := netip.AddrFromSlice(ack.ServerIPAddr.To4())
		return a, ok && !a.IsUnspecified()
	}
	servers := []func() (netip.Addr, bool){siaddr, opt66, opt150}
	if vendor == VendorJuniper || strings.HasPrefix(vendor, "cisco") {
		servers = []func() (netip.Addr, bool){opt150, opt66, siaddr}
	}
	var files []string
	add := func(f string) {
		if f = strings.TrimSpace(f); f != "" && !contains(files, f) {
			files = append(files, f)
		}
	}
	if vendor == VendorJuniper {
		add(parseJuniper43(ack.Options.Get(dhcpv4.OptionVendorSpecificInformation)).config)
	}
	opt67 := ack.BootFileNameOption()
	if u, err := url.Parse(opt67); err == nil && (u.Scheme == "tftp" || isHTTP(opt67)) {
		if a, ok := parseServer(u.Hostname()); ok {
			servers = append([]func() (netip.Addr, bool){func() (netip.Addr, bool) { return a, true }}, servers...)
		}
		if u.Scheme == "tftp" {
			opt67 = strings.TrimPrefix(u.Path, "/")
		}
	}
	add(opt67)
	add(ack.BootFileName)
	if vendor == VendorCiscoXE {
		for _, f := range ciscoAutoInstall {
			add(f)
		}
	}
	for _, s := range servers {
		if a, ok := s(); ok {
			return a, files
		}
	}
	return netip.Addr{}, files
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
