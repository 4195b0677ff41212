package leases

import (
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestInUse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(Options{Now: func() time.Time { return now }, OfferTTL: time.Minute}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := ParsePool("192.0.2.10-192.0.2.19")
	other, _ := ParsePool("198.51.100.10-198.51.100.19")
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	s.SetReserved(a("192.0.2.10"), a("198.51.100.1"))
	if _, err := s.Ack(pool, Lease{IP: a("192.0.2.11"), ClientID: "c1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offer(pool, "c2", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ack(pool, Lease{IP: a("192.0.2.13"), ClientID: "c3"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Decline(a("192.0.2.13")); err != nil {
		t.Fatal(err)
	}
	if n := s.InUse(pool); n != 4 { // reserved, leased, offered, quarantined
		t.Fatalf("in use %d, want 4", n)
	}
	if n := s.InUse(other); n != 0 {
		t.Fatalf("other pool: %d", n)
	}
	now = now.Add(2 * time.Hour) // lease, offer and quarantine over
	if n := s.InUse(pool); n != 1 {
		t.Fatalf("later: %d, want the reserved address only", n)
	}
}
