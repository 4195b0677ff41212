package bootstrap

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/sealboot/sealboot/plugins/leases"
)

func decline(mac net.HardwareAddr, ip netip.Addr, server netip.Addr) *dhcpv4.DHCPv4 {
	d, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server.AsSlice())))
	return d
}

// A client that finds its address in use declines it; the next DISCOVER
// gets another address. Forged DECLINEs (another client, another server)
// change nothing.
func TestDecline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	vc := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Arista;DCS-7050SX3;11.01;JPE2012"))
	offer := f.exchange4(t, discover(vc))
	ack := f.exchange4(t, request(offer, vc))
	ip := addr4(ack.YourIPAddr)

	// Not ours to act on: another client's DECLINE, or one to another server.
	f.p.Decline4(decline(net.HardwareAddr{2, 9, 9, 9, 9, 9}, ip, serverID))
	f.p.Decline4(decline(devMAC, ip, netip.MustParseAddr("192.0.2.2")))
	if again := f.exchange4(t, discover(vc)); addr4(again.YourIPAddr) != ip {
		t.Fatalf("after forged DECLINEs the client was offered %v, want its lease %s", again.YourIPAddr, ip)
	}
	if f.logs.FilterMessageSnippet("does not hold").Len() != 1 {
		t.Fatal("the DECLINE of another client's address is not logged")
	}

	f.p.Decline4(decline(devMAC, ip, serverID))
	next := f.exchange4(t, discover(vc))
	if next == nil || addr4(next.YourIPAddr) == ip || !next.YourIPAddr.IsGlobalUnicast() {
		t.Fatalf("after its DECLINE of %s the client was offered %v", ip, next)
	}
	// The declined address is quarantined for everyone.
	other := discover(vc, dhcpv4.WithHwAddr(net.HardwareAddr{2, 1, 1, 1, 1, 1}), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip.AsSlice())))
	if got := f.exchange4(t, other); got != nil && addr4(got.YourIPAddr) == ip {
		t.Fatalf("declined address %s offered to another client", ip)
	}
	ev := f.logs.FilterMessage("dhcp.decline").All()
	if len(ev) != 1 || ev[0].ContextMap()["serial"] != "JPE2012" || ev[0].ContextMap()["ip"] != ip.String() {
		t.Fatalf("dhcp.decline events: %v", ev)
	}
}

// FuzzHandle: arbitrary DHCPv4 and DHCPv6 packets (DECLINEs and relay
// chains included) through the plugin: an answer or a drop, never a panic.
func FuzzHandle(f *testing.F) {
	d := decline(devMAC, netip.MustParseAddr("192.0.2.150"), serverID)
	f.Add(d.ToBytes())
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: devMAC}), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	inner, _ := dhcpv6.EncapsulateRelay(sol, dhcpv6.MessageTypeRelayForward, net.IPv6unspecified, net.ParseIP("fe80::1"))
	outer, _ := dhcpv6.EncapsulateRelay(inner, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8:1::1"), net.ParseIP("fe80::2"))
	f.Add(outer.ToBytes())
	cfg := testConfig()
	pool, _ := leases.ParsePool("2001:db8:1::100-2001:db8:1::1ff")
	cfg.V6.Relayed = []Subnet6{{Network: netip.MustParsePrefix("2001:db8:1::/64"), Pool: pool, LeaseTime: time.Minute}}
	f.Fuzz(func(t *testing.T, data []byte) {
		fx := newFixture(t, cfg, nil)
		if req, err := dhcpv4.FromBytes(data); err == nil {
			fx.p.Decline4(req)
			if resp, err := dhcpv4.NewReplyFromRequest(req); err == nil {
				fx.p.Handle4(req, resp)
			}
		}
		if req, err := dhcpv6.FromBytes(data); err == nil {
			fx.p.Decline6(req)
			if msg, err := req.GetInnerMessage(); err == nil {
				if resp, err := dhcpv6.NewReplyFromMessage(msg); err == nil {
					fx.p.Handle6(req, resp)
				}
			}
		}
	})
}

// A DHCPv6 client that declines its address gets a Reply (it retransmits
// the Decline until it does) and another address on its next Solicit.
func TestDecline6(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567890")}
	solicit := func() *dhcpv6.Message {
		sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
		sol.MessageType = dhcpv6.MessageTypeSolicit
		return sol
	}
	lease := func() (*dhcpv6.Message, net.IP) {
		adv := f.exchange6(t, solicit())
		req, _ := dhcpv6.NewRequestFromAdvertise(adv)
		rep := f.exchange6(t, req)
		return rep, rep.Options.OneIANA().Options.OneAddress().IPv6Addr
	}
	rep, ip := lease()
	declineOf := func(client dhcpv6.DUID, ip net.IP) *dhcpv6.Message {
		d, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(client), dhcpv6.WithServerID(rep.Options.ServerID()),
			dhcpv6.WithIANA(dhcpv6.OptIAAddress{IPv6Addr: ip}))
		d.MessageType = dhcpv6.MessageTypeDecline
		d.Options.OneIANA().IaId = [4]byte{0, 0, 0, 1}
		return d
	}
	// Another client's Decline changes nothing, but is answered.
	stranger := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS0000000000")}
	if r := f.p.Decline6(declineOf(stranger, ip)); r == nil {
		t.Fatal("no Reply to a stranger's Decline")
	}
	if _, again := lease(); !again.Equal(ip) {
		t.Fatalf("after a stranger's Decline the client got %s, want its lease %s", again, ip)
	}
	for i := range 2 { // the Decline, then its retransmission
		r, _ := f.p.Decline6(declineOf(duid, ip)).(*dhcpv6.Message)
		if r == nil || r.Type() != dhcpv6.MessageTypeReply || r.Options.Status() == nil || r.Options.Status().StatusCode != 0 {
			t.Fatalf("Decline %d: reply %v", i, r)
		}
	}
	if _, next := lease(); next.Equal(ip) {
		t.Fatalf("after its Decline the client got %s again", ip)
	}
	if ev := f.logs.FilterMessage("dhcp.decline").All(); len(ev) != 1 || ev[0].ContextMap()["ip"] != ip.String() {
		t.Fatalf("dhcp.decline events: %v", ev)
	}
	if f.logs.FilterMessageSnippet("does not hold").Len() != 1 {
		t.Fatal("the stranger's Decline is not logged")
	}
}
