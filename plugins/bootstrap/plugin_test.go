package bootstrap

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/plugins/leases"
)

var (
	serverID = netip.MustParseAddr("192.0.2.1")
	devMAC   = net.HardwareAddr{0x2c, 0x6b, 0xf5, 0, 0, 1}
)

func testConfig() Config {
	direct, _ := leases.ParsePool("192.0.2.100-192.0.2.199")
	relayed, _ := leases.ParsePool("10.1.0.100-10.1.0.199")
	v6pool, _ := leases.ParsePool("2001:db8::100-2001:db8::1ff")
	return Config{
		Bootfile: "{serial}.enc",
		V4: &V4{
			ServerID: serverID, TFTPServer: serverID,
			Direct: &Subnet{Pool: direct, Netmask: net.CIDRMask(24, 32), Router: netip.MustParseAddr("192.0.2.254"),
				DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}, LeaseTime: time.Hour},
			Relayed: []Subnet{{Network: netip.MustParsePrefix("10.1.0.0/24"), Pool: relayed, Netmask: net.CIDRMask(24, 32), LeaseTime: 30 * time.Minute}},
		},
		V6: &V6{ServerDUID: &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, Pool: v6pool,
			TFTPServer: netip.MustParseAddr("2001:db8::1"), BootfileParams: []string{"ztp"}, LeaseTime: time.Hour},
	}
}

type fixture struct {
	p    *Plugin
	v4   *leases.Store
	v6   *leases.Store
	logs *observer.ObservedLogs
}

func newFixture(t *testing.T, cfg Config, inv *Inventory) *fixture {
	t.Helper()
	var deps Deps
	if inv != nil {
		deps.Inventory = inv
	}
	return newFixtureWith(t, cfg, deps)
}

// newFixtureWith fills in deps' lease stores (in memory) and logs.
func newFixtureWith(t *testing.T, cfg Config, deps Deps) *fixture {
	t.Helper()
	deps.V4, _ = leases.Open(leases.Options{}, zap.NewNop(), nil)
	deps.V6, _ = leases.Open(leases.Options{}, zap.NewNop(), nil)
	core, logs := observer.New(zap.DebugLevel)
	p, err := New(cfg, deps, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, v4: deps.V4, v6: deps.V6, logs: logs}
}

// exchange4 runs a request through the handler the way CoreDHCP does:
// wire bytes in, a reply prepared by NewReplyFromRequest, wire bytes out.
func (f *fixture) exchange4(t *testing.T, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	req, err := dhcpv4.FromBytes(req.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dhcpv4.NewReplyFromRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	default:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	}
	out, stop := f.p.Handle4(req, resp)
	if !stop {
		t.Fatal("handler did not end the chain")
	}
	if out == nil {
		return nil
	}
	wire, err := dhcpv4.FromBytes(out.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func discover(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d, _ := dhcpv4.NewDiscovery(devMAC, mods...)
	return d
}

func request(offer *dhcpv4.DHCPv4, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	r, _ := dhcpv4.NewRequestFromOffer(offer, mods...)
	return r
}

func TestDORABootOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	vc := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Arista;DCS-7050SX3;11.01;JPE2012"))
	// A PRL that asks for none of the boot options: they are sent anyway.
	prl := dhcpv4.WithOption(dhcpv4.OptParameterRequestList(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter))
	offer := f.exchange4(t, discover(vc, prl))
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("no offer: %v", offer)
	}
	if retry := f.exchange4(t, discover(vc, prl)); !retry.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("a retried DISCOVER got another address: %v", retry.YourIPAddr)
	}
	ack := f.exchange4(t, request(offer, vc, prl))
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("ack: %v", ack)
	}
	for _, m := range []*dhcpv4.DHCPv4{offer, ack} {
		checks := []struct {
			name      string
			got, want any
		}{
			{"siaddr", m.ServerIPAddr.String(), "192.0.2.1"},
			{"file field", m.BootFileName, "JPE2012.enc"},
			{"option 66", m.TFTPServerName(), "192.0.2.1"},
			{"option 67", m.BootFileNameOption(), "JPE2012.enc"},
			{"option 150", m.Options.Get(dhcpv4.OptionTFTPServerAddress), []byte{192, 0, 2, 1}},
			{"option 54", m.ServerIdentifier().String(), "192.0.2.1"},
			{"option 1", net.IP(m.SubnetMask()).String(), "255.255.255.0"},
			{"option 3", m.Router()[0].String(), "192.0.2.254"},
			{"option 6", m.DNS()[0].String(), "192.0.2.53"},
			{"option 51", m.IPAddressLeaseTime(0), time.Hour},
			{"no option 43 for arista", m.Options.Get(dhcpv4.OptionVendorSpecificInformation), []byte(nil)},
		}
		for _, c := range checks {
			if !equal(c.got, c.want) {
				t.Errorf("%s %s: got %v, want %v", m.MessageType(), c.name, c.got, c.want)
			}
		}
	}
	ip, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if serial, mac, ok := f.v4.LookupIP(ip); !ok || serial != "JPE2012" || mac.String() != devMAC.String() {
		t.Fatalf("binding: %q %v %v", serial, mac, ok)
	}
	// Events: one offer (the retry is deduplicated), one ack.
	if n := f.logs.FilterField(zap.String("event", "dhcp.offer")).Len(); n != 1 {
		t.Errorf("%d dhcp.offer events, want 1 (retries are deduplicated)", n)
	}
	ev := f.logs.FilterField(zap.String("event", "dhcp.ack")).AllUntimed()
	if len(ev) != 1 || ev[0].ContextMap()["serial"] != "JPE2012" || ev[0].ContextMap()["vendor"] != "arista" || ev[0].ContextMap()["bootfile"] != "JPE2012.enc" {
		t.Errorf("dhcp.ack events: %v", ev)
	}
}

func equal(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		return bytes.Equal(ab, b.([]byte))
	}
	return a == b
}

func TestJuniperOption43(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	offer := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN12AB"))))
	want := append(append([]byte{0x01, 10}, "JN12AB.enc"...), 0x03, 0x04, 't', 'f', 't', 'p')
	if got := offer.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
		t.Fatalf("option 43 = % x, want % x", got, want)
	}
}

func TestUnknownClients(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	if resp := f.exchange4(t, discover()); resp != nil {
		t.Fatal("answered a client with no serial while serve_unknown is false")
	}
	cfg := testConfig()
	cfg.ServeUnknown = true
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	offer := f.exchange4(t, discover())
	if offer == nil || offer.YourIPAddr.IsUnspecified() {
		t.Fatal("serve_unknown: no address offered")
	}
	if offer.BootFileName != "" || offer.Options.Has(dhcpv4.OptionBootfileName) || offer.Options.Has(dhcpv4.OptionTFTPServerAddress) || offer.Options.Has(dhcpv4.OptionTFTPServerName) {
		t.Fatalf("unknown client got boot options: %v", offer.Summary())
	}
	// siaddr is our own address: CoreDHCP takes it as the IP source of a
	// reply it sends as a raw frame (no broadcast flag), which came from
	// 0.0.0.0 when it was unset.
	if !offer.ServerIPAddr.Equal(serverID.AsSlice()) {
		t.Fatalf("unknown client's siaddr %s, want ours, %s", offer.ServerIPAddr, serverID)
	}
}

func TestInventoryAndRememberedSerial(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inventory")
	_ = os.WriteFile(path, []byte("# classic IOS box\n2c:6b:f5:00:00:01  FTX1234A0BC\n"), 0o644)
	inv, err := LoadInventory(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	f := newFixture(t, cfg, inv)
	offer := f.exchange4(t, discover())
	if offer == nil || offer.BootFileName != "FTX1234A0BC.enc" {
		t.Fatalf("inventory device: %v", offer)
	}
	f.exchange4(t, request(offer))
	// Taken out of the inventory, the device is unknown again: its lease
	// does not keep the inventory's serial alive.
	_ = os.WriteFile(path, []byte("# emptied\n"), 0o644)
	if err := inv.Reload(); err != nil {
		t.Fatal(err)
	}
	cfg.ServeUnknown = false
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if o := f.exchange4(t, discover()); o != nil {
		t.Fatalf("device removed from the inventory still served: file %q", o.BootFileName)
	}
	// IOS-XE: serial in option 61 on one attempt, cisco-<mac>-<if> on the next.
	g := newFixture(t, testConfig(), nil)
	withSerial := dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, append([]byte{0}, "FDO2233X0YZ"...)))
	o := g.exchange4(t, discover(withSerial))
	g.exchange4(t, request(o, withSerial))
	ciscoForm := dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, append([]byte{0}, "cisco-2c6b.f500.0001-Gi1"...)))
	o2 := g.exchange4(t, discover(ciscoForm))
	if o2 == nil || o2.BootFileName != "FDO2233X0YZ.enc" || !o2.YourIPAddr.Equal(o.YourIPAddr) {
		t.Fatalf("IOS-XE second attempt: %v", o2)
	}
}

func TestRequestEdgeCases(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	vc := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN1"))
	offer := f.exchange4(t, discover(vc))
	// The client chose another server: silence.
	other := request(offer, vc, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 0, 2, 9))))
	if resp := f.exchange4(t, other); resp != nil {
		t.Fatal("answered a REQUEST for another server")
	}
	// INIT-REBOOT asking for an address outside our pool: NAK.
	reboot, _ := dhcpv4.New(dhcpv4.WithHwAddr(devMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), vc,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 7))))
	nak := f.exchange4(t, reboot)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.YourIPAddr.IsUnspecified() {
		t.Fatalf("want NAK, got %v", nak)
	}
	// Renewing an address outside the pool: NAK, with ciaddr 0 (RFC 2131 table 3).
	stale, _ := dhcpv4.New(dhcpv4.WithHwAddr(devMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), vc, dhcpv4.WithClientIP(net.IPv4(198, 51, 100, 7)))
	if nak := f.exchange4(t, stale); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.ClientIPAddr.IsUnspecified() {
		t.Fatalf("want a NAK with ciaddr 0, got %v", nak)
	}
	// Release frees the lease.
	ack := f.exchange4(t, request(offer, vc))
	rel, _ := dhcpv4.New(dhcpv4.WithHwAddr(devMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), vc, dhcpv4.WithClientIP(ack.YourIPAddr))
	if resp := f.exchange4(t, rel); resp != nil {
		t.Fatal("replied to RELEASE")
	}
	ip, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if _, _, ok := f.v4.LookupIP(ip); ok {
		t.Fatal("lease active after RELEASE")
	}
	// INIT-REBOOT from a device we have no record of, for an address of
	// this network: another server's client, so silence (RFC 2131 4.3.2).
	stranger := net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	reboot2, _ := dhcpv4.New(dhcpv4.WithHwAddr(stranger), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), vc,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 150))))
	if resp := f.exchange4(t, reboot2); resp != nil {
		t.Fatalf("answered an INIT-REBOOT from a client with no record: %v", resp)
	}
	// The device we know gets its address back, and a renewing client's
	// ACK carries its ciaddr (RFC 2131 table 3).
	back, _ := dhcpv4.New(dhcpv4.WithHwAddr(devMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), vc,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ack.YourIPAddr)))
	if a := f.exchange4(t, back); a == nil || a.MessageType() != dhcpv4.MessageTypeAck || !a.YourIPAddr.Equal(ack.YourIPAddr) {
		t.Fatalf("INIT-REBOOT of a known device: %v", a)
	}
	renew, _ := dhcpv4.New(dhcpv4.WithHwAddr(devMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), vc, dhcpv4.WithClientIP(ack.YourIPAddr))
	if a := f.exchange4(t, renew); a == nil || !a.ClientIPAddr.Equal(ack.YourIPAddr) {
		t.Fatalf("renewal ACK without the client's ciaddr: %v", a)
	}
}

// A circuit ID is bytes: relays send text ("ge-0/0/7") or binary (Cisco's
// VLAN and port), and a client on the segment may send option 82 itself
// (snooping switches insert it with giaddr 0, so it is read then too). The
// event, which sealboot status prints to a terminal, names it as text only
// when it is printable, otherwise in hex.
func TestCircuitIDInEvent(t *testing.T) {
	t.Parallel()
	for i, tt := range []struct{ raw, want string }{
		{"ge-0/0/7", "ge-0/0/7"},
		{"\x00\x04\x00\x0a\x01\x07", "0x0004000a0107"},
		{"\x1b]0;pwned\x07\x1b[2J", "0x1b5d303b70776e6564071b5b324a"},
	} {
		f := newFixture(t, testConfig(), nil)
		opt82 := dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte(tt.raw)))
		d := discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("Juniper-mx204-JN7%d", i))), dhcpv4.WithGatewayIP(net.IPv4(10, 1, 0, 1)), dhcpv4.WithOption(opt82))
		if offer := f.exchange4(t, d); offer == nil {
			t.Fatalf("%q: no offer", tt.raw)
		}
		ev := f.logs.FilterField(zap.String("event", "dhcp.offer")).AllUntimed()
		if len(ev) != 1 || ev[0].ContextMap()["circuit_id"] != tt.want {
			t.Errorf("%q: event %v, want circuit_id %q", tt.raw, ev, tt.want)
		}
	}
}

func TestRelayedRequestGetsRelaySubnet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	opt82 := dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte("ge-0/0/7")))
	d := discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN7")), dhcpv4.WithGatewayIP(net.IPv4(10, 1, 0, 1)), dhcpv4.WithOption(opt82))
	offer := f.exchange4(t, d)
	if offer == nil || !strings.HasPrefix(offer.YourIPAddr.String(), "10.1.0.") || offer.IPAddressLeaseTime(0) != 30*time.Minute {
		t.Fatalf("relayed offer: %v", offer)
	}
	if !offer.Options.Has(dhcpv4.OptionRelayAgentInformation) {
		t.Error("option 82 not echoed (RFC 3046 2.2)")
	}
	ev := f.logs.FilterField(zap.String("event", "dhcp.offer")).AllUntimed()
	if len(ev) != 1 || ev[0].ContextMap()["relay"] != "10.1.0.1" || ev[0].ContextMap()["circuit_id"] != "ge-0/0/7" {
		t.Fatalf("event: %v", ev)
	}
	unknownRelay := discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN8")), dhcpv4.WithGatewayIP(net.IPv4(172, 16, 0, 1)))
	if resp := f.exchange4(t, unknownRelay); resp != nil {
		t.Fatal("answered a relay with no configured subnet")
	}
}

func TestMalformedOptionsDoNotCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	d := discover(dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorIdentifyingVendorClass, []byte{0, 0, 0, 9, 200, 1})))
	d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, nil))
	d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRequestedIPAddress, []byte{1, 2}))
	_ = f.exchange4(t, d)
}

func TestDHCPv6(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567890")}
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	adv := f.exchange6(t, sol)
	addr := adv.Options.OneIANA().Options.OneAddress()
	if adv.Type() != dhcpv6.MessageTypeAdvertise || addr == nil || !strings.HasPrefix(addr.IPv6Addr.String(), "2001:db8::1") {
		t.Fatalf("advertise: %v", adv)
	}
	if got := adv.Options.BootFileURL(); got != "tftp://[2001:db8::1]/NS1234567890.enc" {
		t.Errorf("option 59 = %q", got)
	}
	if got := adv.Options.BootFileParam(); len(got) != 1 || got[0] != "ztp" {
		t.Errorf("option 60 = %q", got)
	}
	if adv.Options.ServerID() == nil {
		t.Error("no server ID")
	}
	req, _ := dhcpv6.NewRequestFromAdvertise(adv)
	rep := f.exchange6(t, req)
	got := rep.Options.OneIANA().Options.OneAddress()
	if rep.Type() != dhcpv6.MessageTypeReply || got == nil || !got.IPv6Addr.Equal(addr.IPv6Addr) {
		t.Fatalf("reply: %v", rep)
	}
	ip, _ := netip.AddrFromSlice(got.IPv6Addr)
	if serial, _, ok := f.v6.LookupIP(ip); !ok || serial != "NS1234567890" {
		t.Fatalf("v6 binding: %q %v", serial, ok)
	}
}

// Relayed DHCPv6 requests take the pool and DNS of the subnet holding the
// link-address of the relay nearest the client; a lightweight relay's
// unspecified link-address defers to the next relay out; a link no subnet
// covers gets no answer.
func TestDHCPv6Relayed(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	pool, _ := leases.ParsePool("2001:db8:1::100-2001:db8:1::1ff")
	cfg.V6.Relayed = []Subnet6{{Network: netip.MustParsePrefix("2001:db8:1::/64"), Pool: pool,
		DNS: []netip.Addr{netip.MustParseAddr("2001:db8:1::53")}, LeaseTime: 30 * time.Minute}}
	f := newFixture(t, cfg, nil)
	solicit := func(id string) *dhcpv6.Message {
		duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte(id)}
		sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
		sol.MessageType = dhcpv6.MessageTypeSolicit
		return sol
	}
	relay := func(inner dhcpv6.DHCPv6, link string) dhcpv6.DHCPv6 {
		r, err := dhcpv6.EncapsulateRelay(inner, dhcpv6.MessageTypeRelayForward, net.ParseIP(link), net.ParseIP("fe80::2"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name, serial string
		req          func(*dhcpv6.Message) dhcpv6.DHCPv6
	}{
		{"one relay", "NSREL0001", func(m *dhcpv6.Message) dhcpv6.DHCPv6 { return relay(m, "2001:db8:1::1") }},
		{"lightweight relay inside a relay", "NSREL0002", func(m *dhcpv6.Message) dhcpv6.DHCPv6 {
			return relay(relay(m, "::"), "2001:db8:1::1")
		}},
	} {
		adv := f.exchange6Req(t, tc.req(solicit(tc.serial)))
		if adv == nil {
			t.Fatalf("%s: no answer", tc.name)
		}
		a := adv.Options.OneIANA().Options.OneAddress()
		if ip, _ := netip.AddrFromSlice(a.IPv6Addr); a == nil || !pool.Contains(ip) || a.ValidLifetime != 30*time.Minute {
			t.Fatalf("%s: address %v, want one from %s valid 30m", tc.name, a, pool)
		}
		if dns := adv.Options.DNS(); len(dns) != 1 || dns[0].String() != "2001:db8:1::53" {
			t.Fatalf("%s: DNS %v, want the subnet's", tc.name, dns)
		}
		if got := adv.Options.BootFileURL(); got != "tftp://[2001:db8::1]/"+tc.serial+".enc" {
			t.Fatalf("%s: option 59 = %q", tc.name, got)
		}
	}
	if out := f.exchange6Req(t, relay(solicit("NSREL0003"), "2001:db8:9::1")); out != nil {
		t.Fatalf("a link no subnet covers got %v", out)
	}
	if f.logs.FilterMessage("dhcpv6: no subnet for this relayed request").Len() != 1 {
		t.Fatal("the dropped request is not logged")
	}
}

// The client's link-layer address (RFC 6939 option 79) is in the
// first-hop relay's Relay-forward, the innermost one: with a second relay
// out it is still found, for the inventory.
func TestDHCPv6ClientLinkLayerAddressTwoRelays(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inventory")
	_ = os.WriteFile(path, []byte("02:00:5e:00:53:79  SONIC-79\n"), 0o644)
	inv, err := LoadInventory(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	pool, _ := leases.ParsePool("2001:db8:1::100-2001:db8:1::1ff")
	cfg.V6.Relayed = []Subnet6{{Network: netip.MustParsePrefix("2001:db8:1::/64"), Pool: pool, LeaseTime: 30 * time.Minute}}
	f := newFixture(t, cfg, inv)
	duid := &dhcpv6.DUIDUUID{UUID: [16]byte{1, 2, 3}} // no MAC in it
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	first, err := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8:1::1"), net.ParseIP("fe80::2"))
	if err != nil {
		t.Fatal(err)
	}
	first.AddOption(dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, net.HardwareAddr{2, 0, 0x5e, 0, 0x53, 0x79}))
	for _, tc := range []struct {
		name string
		req  dhcpv6.DHCPv6
	}{
		{"one relay", first},
		{"two relays", func() dhcpv6.DHCPv6 {
			r, err := dhcpv6.EncapsulateRelay(first, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8:2::1"), net.ParseIP("2001:db8:1::1"))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}()},
	} {
		adv := f.exchange6Req(t, tc.req)
		if adv == nil || adv.Options.BootFileURL() != "tftp://[2001:db8::1]/SONIC-79.enc" {
			t.Errorf("%s: %v", tc.name, adv)
		}
	}
}

// exchange6Req hands a request, relayed or not, to the plugin and returns
// the reply message, or nil when the plugin drops the request.
func (f *fixture) exchange6Req(t *testing.T, msg dhcpv6.DHCPv6) *dhcpv6.Message {
	t.Helper()
	req, err := dhcpv6.FromBytes(msg.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := req.GetInnerMessage()
	var resp dhcpv6.DHCPv6
	if inner.Type() == dhcpv6.MessageTypeSolicit && inner.GetOneOption(dhcpv6.OptionRapidCommit) == nil {
		resp, err = dhcpv6.NewAdvertiseFromSolicit(inner) // as CoreDHCP's server/handle.go
	} else {
		resp, err = dhcpv6.NewReplyFromMessage(inner)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, _ := f.p.Handle6(req, resp)
	if out == nil {
		return nil
	}
	wire, err := dhcpv6.MessageFromBytes(out.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func (f *fixture) exchange6(t *testing.T, msg *dhcpv6.Message) *dhcpv6.Message {
	t.Helper()
	out := f.exchange6Req(t, msg)
	if out == nil {
		t.Fatal("no reply")
	}
	return out
}

func TestInventoryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "inv")
	tests := []struct {
		name, content, err string
	}{
		{"ok with comments and dotted MAC", "# x\n00:50:56:85:3a:b2 SN1 # pe1\n0050.5685.3ab3,SN2\n\n", ""},
		{"bad mac", "00:50:zz:85:3a:b2 SN1\n", `line 1: invalid MAC address "00:50:zz:85:3a:b2"`},
		{"bad serial", "00:50:56:85:3a:b2 ../x\n", `line 1: invalid serial "../x"`},
		{"three fields", "00:50:56:85:3a:b2 SN1 extra\n", `line 1: want "<mac> <serial>"`},
		{"duplicate", "00:50:56:85:3a:b2 SN1\n00:50:56:85:3a:b2 SN2\n", "line 2: 00:50:56:85:3a:b2 is listed twice (SN1 and SN2)"},
	}
	for _, tt := range tests {
		_ = os.WriteFile(path, []byte(tt.content), 0o644)
		inv, err := LoadInventory(path, zap.NewNop())
		if tt.err == "" {
			if err != nil || inv.Len() != 2 {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.err)
		}
	}
	// A broken edit keeps the previous inventory.
	_ = os.WriteFile(path, []byte("00:50:56:85:3a:b2 SN1\n"), 0o644)
	inv, _ := LoadInventory(path, zap.NewNop())
	_ = os.WriteFile(path, []byte("garbage line here\n"), 0o644)
	if err := inv.Reload(); err == nil {
		t.Fatal("broken inventory accepted")
	}
	if s, ok := inv.SerialForMAC(net.HardwareAddr{0, 0x50, 0x56, 0x85, 0x3a, 0xb2}); !ok || s != "SN1" {
		t.Fatal("previous inventory lost")
	}
}

// DHCPv6 messages follow RFC 8415 section 16's Server Identifier rules: one
// for another server, or without the identifier its type requires, or with
// one its type forbids, gets no answer and no lease.
func TestDHCPv6ServerIdentifier(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	f := newFixture(t, cfg, nil)
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567891")}
	other := &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x99}}
	ours := cfg.V6.ServerDUID
	for _, tc := range []struct {
		mt     dhcpv6.MessageType
		sid    dhcpv6.DUID // nil: none
		answer bool
	}{
		{dhcpv6.MessageTypeSolicit, nil, true},
		{dhcpv6.MessageTypeSolicit, ours, false},
		{dhcpv6.MessageTypeRequest, ours, true},
		{dhcpv6.MessageTypeRequest, other, false},
		{dhcpv6.MessageTypeRequest, nil, false},
		{dhcpv6.MessageTypeRenew, ours, true},
		{dhcpv6.MessageTypeRenew, other, false},
		{dhcpv6.MessageTypeRenew, nil, false},
		{dhcpv6.MessageTypeRebind, nil, true},
		{dhcpv6.MessageTypeRebind, ours, false},
		{dhcpv6.MessageTypeRelease, other, false},
		{dhcpv6.MessageTypeRelease, nil, false},
		{dhcpv6.MessageTypeConfirm, other, false},
		{dhcpv6.MessageTypeInformationRequest, nil, true},
		{dhcpv6.MessageTypeInformationRequest, ours, true},
		{dhcpv6.MessageTypeInformationRequest, other, false},
	} {
		mods := []dhcpv6.Modifier{dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 7})}
		if tc.sid != nil {
			mods = append(mods, dhcpv6.WithServerID(tc.sid))
		}
		msg, _ := dhcpv6.NewMessage(mods...)
		msg.MessageType = tc.mt
		before := len(f.v6.Leases())
		out := f.exchange6Req(t, msg)
		if (out != nil) != tc.answer {
			t.Errorf("%s with server ID %v: answered %v, want %v", tc.mt, tc.sid, out != nil, tc.answer)
		}
		if !tc.answer && len(f.v6.Leases()) != before {
			t.Errorf("%s with server ID %v: a lease was made for a message that was not for us", tc.mt, tc.sid)
		}
	}
}

// A renewed address that the pool no longer holds is returned with
// lifetimes of 0 next to the new one (RFC 8415 18.3.4), so the client
// drops it now.
func TestDHCPv6RenewAfterPoolChange(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	f := newFixture(t, cfg, nil)
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567892")}
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	req, _ := dhcpv6.NewRequestFromAdvertise(f.exchange6(t, sol))
	rep := f.exchange6(t, req)
	old := rep.Options.OneIANA().Options.OneAddress().IPv6Addr

	cfg.V6.Pool, _ = leases.ParsePool("2001:db8::200-2001:db8::2ff")
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	ren, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithServerID(cfg.V6.ServerDUID))
	ren.MessageType = dhcpv6.MessageTypeRenew
	ren.AddOption(rep.Options.OneIANA())
	got := f.exchange6(t, ren).Options.OneIANA().Options.Addresses()
	lifetimes := map[string]time.Duration{}
	for _, a := range got {
		lifetimes[a.IPv6Addr.String()] = a.ValidLifetime
	}
	if len(got) != 2 || lifetimes[old.String()] != 0 {
		t.Fatalf("renew of %s after the pool moved: %v", old, got)
	}
	for ip, lt := range lifetimes {
		if ip != old.String() && (lt != time.Hour || !strings.HasPrefix(ip, "2001:db8::2")) {
			t.Fatalf("new address %s lifetime %s", ip, lt)
		}
	}
}

// Confirm: an address in a prefix of the server's own link is on link even
// outside the pool; one elsewhere is not; a Confirm with no address gets
// no reply (RFC 8415 18.3.3).
func TestDHCPv6Confirm(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	link := netip.MustParsePrefix("2001:db8::/64")
	cfg.V6.OnLink = link.Contains
	f := newFixture(t, cfg, nil)
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567893")}
	confirm := func(addr string) *dhcpv6.Message {
		msg, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid))
		msg.MessageType = dhcpv6.MessageTypeConfirm
		if addr != "" {
			msg.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{
				&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(addr)}}}})
		}
		return f.exchange6Req(t, msg)
	}
	for addr, want := range map[string]iana.StatusCode{"2001:db8::25c": iana.StatusSuccess, "2001:db8::150": iana.StatusSuccess, "2001:db8:9::1": iana.StatusNotOnLink} {
		rep := confirm(addr)
		if rep == nil || rep.Options.Status() == nil || rep.Options.Status().StatusCode != want {
			t.Errorf("Confirm %s: %v, want status %s", addr, rep, want)
		}
	}
	if rep := confirm(""); rep != nil {
		t.Errorf("Confirm with no address answered: %v", rep)
	}
}

// A pool that includes the server's own address and the router never
// hands them out, not even to a client asking for one.
func TestPoolSkipsServerAndRouter(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.V4.Direct.Pool, _ = leases.ParsePool("192.0.2.1-192.0.2.3")
	cfg.V4.Direct.Router = netip.MustParseAddr("192.0.2.3")
	cfg.ServeUnknown = true
	f := newFixture(t, cfg, nil) // serverID is 192.0.2.1
	if serverID != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("test assumes the server is 192.0.2.1, not %s", serverID)
	}
	want := net.IPv4(192, 0, 2, 2)
	o := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 1)))))
	if o == nil || !o.YourIPAddr.Equal(want) {
		t.Fatalf("offer: %v, want %s", o, want)
	}
	if ack := f.exchange4(t, request(o)); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("ack: %v", ack)
	}
	// The only address left is the router's: a second device gets nothing.
	other := dhcpv4.WithHwAddr(net.HardwareAddr{2, 0, 0, 0, 0, 0x42})
	if o2 := f.exchange4(t, discover(other)); o2 != nil {
		t.Fatalf("offered %s although only the server's and the router's addresses are free", o2.YourIPAddr)
	}
}
