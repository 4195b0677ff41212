package fetch

import (
	"net/netip"
	"sync"
	"time"
)

// Served image events: each client address has a few in full per window,
// as a device fetching its image (HEAD, GET, a resumed GET or two) needs;
// the rest go to the rate-limited logger. A fleet downloading images keeps
// one line per device and download in the journal, while one address
// asking over and over (a HEAD or a 304 costs it nothing) cannot flood it.
const (
	imageEventsPerAddr   = 4
	imageEventsWindow    = 10 * time.Second
	imageEventsAddresses = 1024 // addresses tracked in a window; past that, rate-limited
)

// addrBudget counts events per client address in a fixed window.
type addrBudget struct {
	per, max int
	window   time.Duration
	now      func() time.Time

	mu    sync.Mutex
	start time.Time
	used  map[netip.Addr]int
}

func newAddrBudget() *addrBudget {
	return &addrBudget{per: imageEventsPerAddr, max: imageEventsAddresses, window: imageEventsWindow, now: time.Now,
		used: map[netip.Addr]int{}}
}

// take reports whether addr may have one more event in full in this window.
func (b *addrBudget) take(addr netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.now(); now.Sub(b.start) >= b.window {
		b.start = now
		clear(b.used)
	}
	n, seen := b.used[addr]
	if n >= b.per || !seen && len(b.used) >= b.max {
		return false
	}
	b.used[addr] = n + 1
	return true
}
