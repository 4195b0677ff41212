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
			if msg, err := req.GetInnerMessage(); err == nil {
				if resp, err := dhcpv6.NewReplyFromMessage(msg); err == nil {
					fx.p.Handle6(req, resp)
				}
			}
		}
	})
}
