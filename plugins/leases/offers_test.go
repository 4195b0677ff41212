package leases

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
)

func newOfferStore(t *testing.T, c *clock, opts Options) *Store {
	t.Helper()
	opts.Now = c.now
	s, err := Open(opts, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fillPool offers every address of pool to unknown clients with made-up
// serials, as a DISCOVER flood does.
func fillPool(t *testing.T, s *Store, pool Pool, prefix string) []netip.Addr {
	t.Helper()
	var ips []netip.Addr
	for i := range int(pool.Size()) {
		r, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprintf("%s%d", prefix, i), Serial: fmt.Sprintf("%sSN%d", prefix, i)})
		if err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
		ips = append(ips, r.IP)
	}
	return ips
}

func TestOneOfferPerClient(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newOfferStore(t, c, Options{})
	pool, _ := ParsePool("10.0.0.1-10.0.0.8")
	first, _ := s.Reserve(pool, OfferRequest{ClientID: "a"})
	// Asking for every other address in turn moves nothing: one client
	// cannot sweep the pool.
	for i := range 8 {
		r, err := s.Reserve(pool, OfferRequest{ClientID: "a", Requested: pool.At(uint64(i))})
		if err != nil || r.IP != first.IP {
			t.Fatalf("request for %s: got %s %v, want the outstanding offer %s", pool.At(uint64(i)), r.IP, err, first.IP)
		}
	}
	if n := len(s.offers); n != 1 {
		t.Fatalf("%d offers held for one client", n)
	}
}

func TestSerialLimit(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newOfferStore(t, c, Options{MaxOffersPerSerial: 3})
	pool, _ := ParsePool("10.0.0.1-10.0.0.100")
	ips := map[string]netip.Addr{}
	for i := range 3 {
		r, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("mac", i), Serial: "SN1"})
		if err != nil || r.Withdrawn != "" {
			t.Fatalf("client %d: %+v, %v", i, r, err)
		}
		ips[fmt.Sprint("mac", i)] = r.IP
		c.add(time.Second)
	}
	// A fourth client with the same serial gets an offer; the serial's
	// oldest is withdrawn (someone who saw a device's DISCOVER cannot keep
	// it from an offer by asking first with its serial).
	r, err := s.Reserve(pool, OfferRequest{ClientID: "mac9", Serial: "SN1"})
	if err != nil || r.Withdrawn != "mac0" {
		t.Fatalf("fourth client with the same serial: %+v, %v; want an offer, mac0's withdrawn", r, err)
	}
	if _, ok := s.offers[ips["mac0"]]; ok {
		t.Fatal("mac0's offer is still held")
	}
	if n := len(s.serials["SN1"]); n != 3 {
		t.Fatalf("the serial holds %d offers, want 3", n)
	}
	// A client holding one of the offers asks again: the same one, nothing withdrawn.
	if r, err := s.Reserve(pool, OfferRequest{ClientID: "mac1", Serial: "SN1"}); err != nil || r.IP != ips["mac1"] || r.Withdrawn != "" {
		t.Fatalf("a client holding one of the offers asks again: %+v, %v", r, err)
	}
	// An offer taken up by an ACK no longer counts; nor does one expired.
	if _, err := s.Ack(pool, Lease{IP: ips["mac1"], ClientID: "mac1", Serial: "SN1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Reserve(pool, OfferRequest{ClientID: "mac8", Serial: "SN1"}); err != nil || r.Withdrawn != "" {
		t.Fatalf("after an ACK: %+v, %v", r, err)
	}
	c.add(31 * time.Second)
	for i := range 3 {
		if r, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("new", i), Serial: "SN1"}); err != nil || r.Withdrawn != "" {
			t.Fatalf("after the offers expired: %+v, %v", r, err)
		}
	}
	if s.serialLimited.Load() != 1 {
		t.Fatalf("serial limit counted %d times", s.serialLimited.Load())
	}
	// A flood with one serial still holds no more than the limit.
	for i := range 50 {
		if _, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("flood", i), Serial: "SN2"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.serials["SN2"]); n != 3 {
		t.Fatalf("a flood of one serial holds %d offers, want 3", n)
	}
	held := 0
	for _, o := range s.offers {
		if o.serial == "SN2" {
			held++
		}
	}
	if held != 3 {
		t.Fatalf("%d offers of the flooded serial in the pool, want 3", held)
	}
}

func TestKnownDevicePreemptsUnknownOffer(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newOfferStore(t, c, Options{})
	pool, _ := ParsePool("10.0.0.1-10.0.0.4")
	// One address acknowledged to a device, the others offered to a flood.
	acked, _ := s.Reserve(pool, OfferRequest{ClientID: "dev", Serial: "SNDEV"})
	if _, err := s.Ack(pool, Lease{IP: acked.IP, ClientID: "dev", Serial: "SNDEV"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var flood []Reservation
	for i := range 3 {
		c.add(time.Second)
		r, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("x", i), Serial: fmt.Sprint("FAKE", i)})
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, r)
	}
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "y", Serial: "FAKE9"}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("unknown client, pool full, offers younger than PressureTTL: %v", err)
	}
	r, err := s.Reserve(pool, OfferRequest{ClientID: "known", Serial: "SNK", Known: true})
	if err != nil {
		t.Fatalf("known device, pool full: %v", err)
	}
	if r.IP != flood[0].IP || r.Taken != "x0" || r.TakenSerial != "FAKE0" || !r.Preempted {
		t.Fatalf("known device got %+v, want the oldest unknown offer %s", r, flood[0].IP)
	}
	if _, err := s.Ack(pool, Lease{IP: r.IP, ClientID: "x0"}, time.Hour); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("the client whose offer was taken acknowledged it: %v", err)
	}
	if _, err := s.Ack(pool, Lease{IP: r.IP, ClientID: "known", Serial: "SNK"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Known devices take the remaining unknown offers, never a lease or
	// another known device's offer.
	for i := range 2 {
		if _, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("k", i), Serial: fmt.Sprint("SNK", i), Known: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "k9", Serial: "SNK9", Known: true}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("pool of leases and known offers: %v", err)
	}
	if l, ok := s.LookupClient("dev"); !ok || l.IP != acked.IP {
		t.Fatal("an acknowledged lease was taken")
	}
	if s.preempted.Load() != 3 {
		t.Fatalf("preempted = %d, want 3", s.preempted.Load())
	}
}

func TestUnknownOffersHeldShortWhenFull(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newOfferStore(t, c, Options{PressureTTL: 5 * time.Second})
	pool, _ := ParsePool("10.0.0.1-10.0.0.4")
	ips := fillPool(t, s, pool, "flood")
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "late", Serial: "REAL1"}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("before PressureTTL: %v", err)
	}
	c.add(5 * time.Second)
	r, err := s.Reserve(pool, OfferRequest{ClientID: "late", Serial: "REAL1"})
	if err != nil || r.IP != ips[0] || r.Preempted {
		t.Fatalf("after PressureTTL: %+v %v, want the oldest offer %s", r, err, ips[0])
	}
	if s.reclaimed.Load() != 1 {
		t.Fatalf("reclaimed = %d", s.reclaimed.Load())
	}
	// A known device's offer is held its full TTL.
	c.add(time.Second)
	k, err := s.Reserve(pool, OfferRequest{ClientID: "known", Serial: "SNK", Known: true})
	if err != nil {
		t.Fatal(err)
	}
	c.add(20 * time.Second)
	for i := range 4 {
		if r, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("more", i)}); err == nil && r.IP == k.IP {
			t.Fatalf("a known device's offer was taken by an unknown one after %s", 20*time.Second)
		}
	}
	// Another known device, with no unknown offer left to take, takes the
	// oldest known offer past PressureTTL: known serials are no secret.
	for i := range 3 {
		if _, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("k", i), Serial: fmt.Sprint("SNK", i), Known: true}); err != nil {
			t.Fatal(err)
		}
	}
	r, err = s.Reserve(pool, OfferRequest{ClientID: "k9", Serial: "SNK9", Known: true})
	if err != nil || r.IP != k.IP || r.Preempted || r.Taken != "known" {
		t.Fatalf("a known device with only known offers left: %+v %v, want the oldest, %s", r, err, k.IP)
	}
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "k10", Serial: "SNK10", Known: true}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("known offers younger than PressureTTL were taken: %v", err)
	}
}

func TestOfferCap(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newOfferStore(t, c, Options{MaxOffers: 10})
	pool, _ := ParsePool("2001:db8::-2001:db8::ffff:ffff:ffff:ffff")
	for i := range 10 {
		if _, err := s.Reserve(pool, OfferRequest{ClientID: fmt.Sprint("c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "c10"}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("past MaxOffers: %v", err)
	}
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "k", Serial: "SNK", Known: true}); err != nil {
		t.Fatalf("known device past MaxOffers: %v", err)
	}
	c.add(31 * time.Second)
	if _, err := s.Reserve(pool, OfferRequest{ClientID: "c11"}); err != nil || len(s.offers) != 1 {
		t.Fatalf("after the offers expired: %v, %d held", err, len(s.offers))
	}
}
