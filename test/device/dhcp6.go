package device

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
)

// IANA enterprise numbers the emulated devices present in DHCPv6.
const (
	enterpriseJuniper = 2636
	enterpriseArista  = 30065
	enterpriseNokia   = 6527
	enterpriseCisco   = 9
)

// dhcp6 is Solicit/Advertise/Request/Reply (or a rapid-commit Reply) from
// the interface's link-local address, with a stable DUID.
func (cfg *Config) dhcp6(ctx context.Context) (*dhcpLease, error) {
	client, err := nclient6.New(cfg.Interface, nclient6.WithTimeout(cfg.DHCPTimeout/3), nclient6.WithRetry(3))
	if err != nil {
		return nil, fmt.Errorf("dhcpv6: %w", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.DHCPTimeout)
	defer cancel()
	reply, err := client.RapidSolicit(ctx, cfg.modifiers6()...)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6: %w", err)
	}
	ia := reply.Options.OneIANA()
	if ia == nil || ia.Options.OneAddress() == nil {
		return nil, fmt.Errorf("dhcpv6: the reply holds no address")
	}
	addr, _ := netip.AddrFromSlice(ia.Options.OneAddress().IPv6Addr)
	if cfg.SZTP != nil {
		o := reply.Options.GetOne(dhcpv6.OptionCode(optionSZTP6))
		if o == nil {
			return nil, fmt.Errorf("dhcpv6: no SZTP redirect option (136) in the reply")
		}
		uris, err := sztpURIs(o.ToBytes())
		if err != nil {
			return nil, fmt.Errorf("dhcpv6: option 136: %w", err)
		}
		release, err := addAddress(cfg.Interface, addr, cfg.V6PrefixLen)
		if err != nil {
			return nil, err
		}
		return &dhcpLease{addr: addr, prefix: cfg.V6PrefixLen, sztp: uris, release: release}, nil
	}
	u, err := url.Parse(reply.Options.BootFileURL())
	if err != nil || (u.Scheme != "tftp" && !isHTTP(u.String())) {
		return nil, fmt.Errorf("dhcpv6: no tftp:// or http:// bootfile URL (option 59) in the reply, got %q", reply.Options.BootFileURL())
	}
	server, ok := parseServer(u.Hostname())
	if !ok {
		return nil, fmt.Errorf("dhcpv6: cannot resolve the TFTP server %q", u.Hostname())
	}
	release, err := addAddress(cfg.Interface, addr, cfg.V6PrefixLen)
	if err != nil {
		return nil, err
	}
	file := strings.TrimPrefix(u.Path, "/")
	if u.Scheme != "tftp" {
		file = u.String()
	}
	return &dhcpLease{addr: addr, prefix: cfg.V6PrefixLen, server: server, files: []string{file}, release: release}, nil
}

// modifiers6 sets a stable DUID and presents the serial: DUID-EN for
// Nokia and Cisco (enterprise 9, the serial and a NUL, as Cisco's own
// examples show it), the vendor class (option 16) for Juniper and Arista.
func (cfg *Config) modifiers6() []dhcpv6.Modifier {
	model := cfg.Model
	if model == "" {
		model = defaultModel[cfg.Vendor]
	}
	var duid dhcpv6.DUID = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: cfg.MAC}
	oro := []dhcpv6.OptionCode{dhcpv6.OptionBootfileURL, dhcpv6.OptionBootfileParam, dhcpv6.OptionDNSRecursiveNameServer}
	if cfg.SZTP != nil {
		oro = append(oro, dhcpv6.OptionCode(optionSZTP6))
	}
	mods := []dhcpv6.Modifier{dhcpv6.WithRequestedOptions(oro...)}
	vendorClass := func(en uint32, s string) dhcpv6.Modifier {
		return func(m dhcpv6.DHCPv6) {
			m.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: en, Data: [][]byte{[]byte(s)}})
		}
	}
	switch cfg.Vendor {
	case VendorNokia:
		duid = &dhcpv6.DUIDEN{EnterpriseNumber: enterpriseNokia, EnterpriseIdentifier: []byte(cfg.Serial)}
	case VendorCiscoNXOS, VendorCiscoXE:
		duid = &dhcpv6.DUIDEN{EnterpriseNumber: enterpriseCisco, EnterpriseIdentifier: append([]byte(cfg.Serial), 0)}
	case VendorJuniper:
		mods = append(mods, vendorClass(enterpriseJuniper, "Juniper-"+model+"-"+cfg.Serial))
	case VendorArista:
		mods = append(mods, vendorClass(enterpriseArista, "Arista;"+model+";11.01;"+cfg.Serial))
	}
	return append(mods, dhcpv6.WithClientID(duid))
}
