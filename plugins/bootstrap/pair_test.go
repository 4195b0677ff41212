package bootstrap

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/sealboot/sealboot/plugins/leases"
)

// Two servers on one segment both answer every DISCOVER (Solicit); a
// device takes one offer and requests it, naming that server. The other
// frees the address it offered at once (RFC 2131 4.3.2) instead of holding
// it for the offer's lifetime: with a pool of one address, the next device
// gets it.
func TestOfferWithdrawnWhenAnotherServerIsChosen(t *testing.T) {
	t.Parallel()
	peer4 := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 0, 2, 2)))
	peer6 := &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	for _, tc := range []struct {
		name string
		// offer makes device i ask for an offer, and reports whether it got one.
		offer func(t *testing.T, f *fixture, i int) bool
		// choosePeer makes device i request the peer's offer.
		choosePeer func(t *testing.T, f *fixture, i int)
	}{
		{"v4", func(t *testing.T, f *fixture, i int) bool {
			return f.exchange4(t, discover(dhcpv4.WithHwAddr(devN(i)), juniper(i))) != nil
		}, func(t *testing.T, f *fixture, i int) {
			o, _ := dhcpv4.NewDiscovery(devN(i), juniper(i))
			o.YourIPAddr = net.IPv4(192, 0, 2, 150) // the peer's offer
			if resp := f.exchange4(t, request(o, juniper(i), peer4)); resp != nil {
				t.Fatalf("answered a REQUEST for the peer: %v", resp)
			}
		}},
		{"v6", func(t *testing.T, f *fixture, i int) bool {
			adv := f.exchange6Req(t, solicit6(i))
			return adv != nil && adv.Options.OneIANA().Options.OneAddress() != nil
		}, func(t *testing.T, f *fixture, i int) {
			req := solicit6(i)
			req.MessageType = dhcpv6.MessageTypeRequest
			req.AddOption(dhcpv6.OptServerID(peer6))
			if resp := f.exchange6Req(t, req); resp != nil {
				t.Fatalf("answered a Request for the peer: %v", resp)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.V4.Direct.Pool, _ = leases.ParsePool("192.0.2.100-192.0.2.100")
			cfg.V6.Pool, _ = leases.ParsePool("2001:db8::100-2001:db8::100")
			f := newFixture(t, cfg, nil)
			if !tc.offer(t, f, 1) {
				t.Fatal("no offer for the first device")
			}
			if tc.offer(t, f, 2) {
				t.Fatal("the only address was offered twice")
			}
			tc.choosePeer(t, f, 1)
			if !tc.offer(t, f, 2) {
				t.Fatal("the address offered to a device that chose the peer is still held")
			}
			if got := f.logs.FilterMessage("dhcp: the client requested another server's offer; ours is withdrawn").Len(); got != 1 {
				t.Fatalf("%d withdrawal lines", got)
			}
		})
	}
}

// Under a burst, the REQUEST naming the peer can be handled before the
// DISCOVER of the same transaction (each packet on its own goroutine): that
// DISCOVER gets no offer, which nothing would withdraw; the client's next
// transaction does.
func TestDiscoverAfterRequestForPeer(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.V4.Direct.Pool, _ = leases.ParsePool("192.0.2.100-192.0.2.100")
	f := newFixture(t, cfg, nil)
	d := discover(dhcpv4.WithHwAddr(devN(1)), juniper(1))
	late := *d
	late.YourIPAddr = net.IPv4(192, 0, 2, 150)
	if resp := f.exchange4(t, request(&late, juniper(1), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 0, 2, 2))))); resp != nil {
		t.Fatalf("answered a REQUEST for the peer: %v", resp)
	}
	if o := f.exchange4(t, d); o != nil {
		t.Fatalf("offered %s in a transaction the client had already settled with the peer", o.YourIPAddr)
	}
	if o := f.exchange4(t, discover(dhcpv4.WithHwAddr(devN(2)), juniper(2))); o == nil {
		t.Fatal("the only address is held")
	}
	again := discover(dhcpv4.WithHwAddr(devN(1)), juniper(1)) // a new xid
	if again.TransactionID == d.TransactionID {
		t.Fatal("test needs a new transaction ID")
	}
	cfg.V4.Direct.Pool, _ = leases.ParsePool("192.0.2.100-192.0.2.101")
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if o := f.exchange4(t, again); o == nil {
		t.Fatal("a new transaction of the same client got no offer")
	}
}

// A device of the peer's (its address is in the peer's half of the
// network) that reaches us: INIT-REBOOT gets silence, as from any server
// with no record of the client (RFC 2131 4.3.2), so the peer's ACK is not
// raced by a NAK; REBINDING (the peer did not answer its renewals) gets a
// NAK, so the device starts over with DISCOVER at T2 instead of holding a
// dead server's address until the lease ends.
func TestPeersClient(t *testing.T) {
	t.Parallel()
	peersAddr := net.IPv4(192, 0, 2, 230) // on our network, outside our pool
	for _, tc := range []struct {
		name string
		mods []dhcpv4.Modifier
		nak  bool
	}{
		{"INIT-REBOOT", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(peersAddr))}, false},
		{"REBINDING", []dhcpv4.Modifier{dhcpv4.WithClientIP(peersAddr)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.V4.Direct.Pool, _ = leases.ParsePool("192.0.2.100-192.0.2.199")
			f := newFixture(t, cfg, nil)
			req, _ := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(devN(1)), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), juniper(1)}, tc.mods...)...)
			resp := f.exchange4(t, req)
			if got := resp != nil && resp.MessageType() == dhcpv4.MessageTypeNak; got != tc.nak || (!tc.nak && resp != nil) {
				t.Fatalf("reply %v, want NAK %v", resp, tc.nak)
			}
			if n := len(f.v4.Leases()); n != 0 {
				t.Fatalf("%d leases made for the peer's device", n)
			}
		})
	}
}

func devN(i int) net.HardwareAddr { return net.HardwareAddr{0x2c, 0x6b, 0xf5, 0, 1, byte(i)} }

func juniper(i int) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JNPAIR" + string(rune('0'+i))))
}

func solicit6(i int) *dhcpv6.Message {
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NSPAIR" + string(rune('0'+i)))}
	m, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	m.MessageType = dhcpv6.MessageTypeSolicit
	return m
}

// A Solicit with Rapid Commit gets a committed lease only when
// dhcp.v6.rapid_commit is on; off (the default), an Advertise, and no
// lease until the client Requests it, so the server it did not choose
// holds nothing for it.
func TestDHCPv6RapidCommit(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		cfg := testConfig()
		cfg.V6.RapidCommit = on
		f := newFixture(t, cfg, nil)
		sol := solicit6(1)
		sol.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		out := f.exchange6(t, sol)
		want, wantLeases := dhcpv6.MessageTypeAdvertise, 0
		if on {
			want, wantLeases = dhcpv6.MessageTypeReply, 1
		}
		rc := out.GetOneOption(dhcpv6.OptionRapidCommit) != nil
		if out.Type() != want || rc != on || len(f.v6.Leases()) != wantLeases || out.Options.OneIANA().Options.OneAddress() == nil {
			t.Errorf("rapid_commit %v: %s (rapid commit option %v), %d leases; want %s, %d", on, out.Type(), rc, len(f.v6.Leases()), want, wantLeases)
		}
	}
}
