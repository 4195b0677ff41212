package fetch

import (
	"net/netip"
	"testing"
	"time"
)

func TestAddrBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newAddrBudget()
	b.now = func() time.Time { return now }
	a, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for i := range imageEventsPerAddr {
		if !b.take(a) {
			t.Fatalf("event %d of an address refused", i+1)
		}
	}
	if b.take(a) {
		t.Fatal("an address had more than its budget in one window")
	}
	if !b.take(c) {
		t.Fatal("another address was refused its first event")
	}
	now = now.Add(imageEventsWindow)
	if !b.take(a) {
		t.Fatal("the budget did not come back in the next window")
	}
	// Many addresses: past the ones tracked, new ones go to the rate limit.
	for i := range imageEventsAddresses + 10 {
		b.take(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if n := len(b.used); n != imageEventsAddresses {
		t.Fatalf("%d addresses tracked, want at most %d", n, imageEventsAddresses)
	}
	if b.take(netip.MustParseAddr("198.51.100.7")) {
		t.Fatal("an address past the tracked ones had an event in full")
	}
	if !b.take(a) {
		t.Fatal("a tracked address lost its budget to the others")
	}
}
