package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/leases"
)

// knownSet is a Known: the serials listed.
type knownSet map[string]bool

func (k knownSet) Known(serial string) bool { return k[serial] }

func randomMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	_, _ = rand.Read(m)
	m[0] = m[0]&^1 | 2 // unicast, locally administered
	return m
}

// randomSerial is a made-up, syntactically valid serial.
func randomSerial() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "FAKE" + hex.EncodeToString(b)
}

// nxosSerial is option 61 as Cisco NX-OS sends it: 0x00 + serial.
func nxosSerial(serial string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, append([]byte{0}, serial...)))
}

func smallPoolConfig() Config {
	cfg := testConfig()
	pool, _ := leases.ParsePool("192.0.2.100-192.0.2.115") // 16
	cfg.V4.Direct.Pool = pool
	return cfg
}

// TestDiscoverFloodDoesNotStarveKnownDevice: DISCOVERs from random MACs,
// each with a made-up serial, drain the pool; a device sealboot knows (it
// has a certificate or a config) still gets an OFFER, and its lease, and
// the client whose offer it took cannot acknowledge it.
func TestDiscoverFloodDoesNotStarveKnownDevice(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, smallPoolConfig(), Deps{Known: knownSet{"FDO2134KNOWN": true}})
	offered := map[string]*dhcpv4.DHCPv4{}
	for range 200 {
		d, _ := dhcpv4.NewDiscovery(randomMAC(), nxosSerial(randomSerial()))
		if o := f.exchange4(t, d); o != nil {
			offered[o.YourIPAddr.String()] = d
		}
	}
	if len(offered) != 16 {
		t.Fatalf("the flood got %d addresses of 16", len(offered))
	}
	stranger, _ := dhcpv4.NewDiscovery(randomMAC(), nxosSerial("FDO2134NEW"))
	if o := f.exchange4(t, stranger); o != nil {
		t.Fatalf("an unknown device was offered %s from a full pool within the short hold", o.YourIPAddr)
	}
	known := discover(nxosSerial("FDO2134KNOWN"))
	offer := f.exchange4(t, known)
	if offer == nil {
		t.Fatal("the known device got no OFFER while the flood holds the pool")
	}
	// The flood's client that held this address asks for it: NAK.
	victim := offered[offer.YourIPAddr.String()]
	if victim == nil {
		t.Fatalf("offered %s, which the flood did not hold", offer.YourIPAddr)
	}
	vo, _ := dhcpv4.NewReplyFromRequest(victim, dhcpv4.WithYourIP(offer.YourIPAddr), dhcpv4.WithServerIP(serverID.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverID.AsSlice())))
	id := dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, victim.Options.Get(dhcpv4.OptionClientIdentifier)))
	if nak := f.exchange4(t, request(vo, id)); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("the flood's client acknowledged the address the known device was offered: %v", nak)
	}
	ack := f.exchange4(t, request(offer, nxosSerial("FDO2134KNOWN")))
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("known device's REQUEST: %v", ack)
	}
	ip, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if serial, _, ok := f.v4.LookupIP(ip); !ok || serial != "FDO2134KNOWN" {
		t.Fatalf("binding: %q %v", serial, ok)
	}
	if n := f.logs.FilterMessageSnippet("given to a known device").Len(); n != 1 {
		t.Errorf("%d preemption lines, want 1", n)
	}
	ev := f.logs.FilterField(zap.String("event", "dhcp.ack")).AllUntimed()
	if len(ev) != 1 || ev[0].ContextMap()["serial"] != "FDO2134KNOWN" {
		t.Errorf("dhcp.ack events: %v", ev)
	}
}

// The same over DHCPv6: Solicits from random DUIDs with made-up serials
// fill the pool; a known device's Solicit gets an Advertise with an address.
func TestSolicitFloodDoesNotStarveKnownDevice(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.V6.Pool, _ = leases.ParsePool("2001:db8::100-2001:db8::10f") // 16
	f := newFixtureWith(t, cfg, Deps{Known: knownSet{"NS0000KNOWN": true}})
	solicit := func(serial string) *dhcpv6.Message {
		duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte(serial)}
		sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
		sol.MessageType = dhcpv6.MessageTypeSolicit
		return sol
	}
	for range 100 {
		f.exchange6(t, solicit(randomSerial()))
	}
	adv := f.exchange6(t, solicit("NS0000KNOWN"))
	if a := adv.Options.OneIANA().Options.OneAddress(); a == nil {
		t.Fatalf("the known device's Advertise has no address: %v", adv)
	}
}

// One DHCPv6 message may carry many IA_NAs, each a lease of its own (the
// client is DUID + IAID): a Request with a hundred of them from a made-up
// serial took the whole pool, and a Decline of them as many dhcp.decline
// lines, which are not rate-limited. A message gets at most maxIANA
// addresses; the other IA_NAs are answered NoAddrsAvail.
func TestManyIANAsInOneMessage(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.V6.Pool, _ = leases.ParsePool("2001:db8::100-2001:db8::10f") // 16
	f := newFixtureWith(t, cfg, Deps{Known: knownSet{"NS0000KNOWN": true}})
	duid := &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte(randomSerial())}
	req, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithServerID(cfg.V6.ServerDUID))
	req.MessageType = dhcpv6.MessageTypeRequest
	for i := range 100 {
		req.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, byte(i)}})
	}
	rep := f.exchange6(t, req)
	var held []net.IP
	for _, ia := range rep.Options.IANA() {
		if a := ia.Options.OneAddress(); a != nil {
			held = append(held, a.IPv6Addr)
		} else if st := ia.Options.Status(); st == nil || st.StatusCode != 2 {
			t.Fatalf("IA_NA %x without an address or NoAddrsAvail: %v", ia.IaId, ia)
		}
	}
	if len(rep.Options.IANA()) != 100 || len(held) != maxIANA {
		t.Fatalf("%d IA_NAs answered, %d with an address; want 100 and %d", len(rep.Options.IANA()), len(held), maxIANA)
	}
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS0000KNOWN")}), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	if a := f.exchange6(t, sol).Options.OneIANA().Options.OneAddress(); a == nil {
		t.Fatal("the known device's Advertise has no address")
	}
	// The client leases as many again in a second Request, then declines
	// all it holds in one message: at most maxIANA lines.
	req2, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithServerID(cfg.V6.ServerDUID))
	req2.MessageType = dhcpv6.MessageTypeRequest
	for i := range maxIANA {
		req2.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 1, byte(i)}})
	}
	dec, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(duid), dhcpv6.WithServerID(cfg.V6.ServerDUID))
	dec.MessageType = dhcpv6.MessageTypeDecline
	for _, r := range []*dhcpv6.Message{rep, f.exchange6(t, req2)} {
		for _, ia := range r.Options.IANA() {
			if ia.Options.OneAddress() != nil {
				dec.AddOption(ia)
			}
		}
	}
	if n := len(dec.Options.IANA()); n != 2*maxIANA {
		t.Fatalf("the client holds %d addresses, want %d", n, 2*maxIANA)
	}
	if f.p.Decline6(dec) == nil {
		t.Fatal("no Reply to the Decline")
	}
	if n := f.logs.FilterMessage("dhcp.decline").Len(); n > maxIANA {
		t.Fatalf("%d dhcp.decline lines for one Decline", n)
	}
}

// TestSerialSpoofingDoesNotStarveDevice: someone who saw a device's
// DISCOVER (broadcast, serial and all) sends DISCOVERs with its serial from
// made-up MACs, more than a serial may hold offers. The device's own
// DISCOVER still gets an OFFER, and its REQUEST the ACK.
func TestSerialSpoofingDoesNotStarveDevice(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, smallPoolConfig(), Deps{Known: knownSet{"FDO2134KNOWN": true}})
	for range 8 {
		d, _ := dhcpv4.NewDiscovery(randomMAC(), nxosSerial("FDO2134KNOWN"))
		f.exchange4(t, d)
	}
	d := discover(nxosSerial("FDO2134KNOWN"))
	offer := f.exchange4(t, d)
	if offer == nil {
		t.Fatal("the device got no OFFER after others sent its serial")
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer, nxosSerial("FDO2134KNOWN"))
	if ack := f.exchange4(t, req); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("the device's REQUEST got %v", ack)
	}
}
