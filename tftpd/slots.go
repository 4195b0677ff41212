package tftpd

import (
	"container/list"
	"sync"
	"time"
)

// slots bounds concurrent transfers, in all and per client address. When
// every slot is taken, a request waits in line (first come, first served)
// for a while before it is refused: a device refused as busy asks again
// only minutes later (RFC 8886 section 4.3), so after a power cut at a POP
// a short wait beats a refusal. The line itself is bounded, and a client's
// waiting requests count towards its own limit, except that a request
// retransmitted while the first copy waits (same address and port) joins
// the line too: refusing it would send the client an error before the
// first copy is answered, and the client would give up.
type slots struct {
	mu      sync.Mutex
	active  int
	perPeer map[string]int // by client address, active and waiting
	waiting list.List      // of *waiter, oldest first
	from    map[string]int // waiting requests by client address and port
}

type waiter struct {
	ch      chan struct{} // closed when the slot is handed over
	granted bool
	from    string
}

// queueFactor bounds the line at this many times MaxTransfers.
const queueFactor = 4

type refusal int

const (
	admitted refusal = iota
	clientLimit
	globalLimit
)

// acquire takes a slot for peer (an address) asking from port (its
// address and port), waiting up to wait when all are taken.
func (s *slots) acquire(peer, port string, maxTotal, maxPerClient int, wait time.Duration) refusal {
	s.mu.Lock()
	if s.perPeer[peer] >= maxPerClient && s.from[port] == 0 {
		s.mu.Unlock()
		return clientLimit
	}
	if s.active < maxTotal {
		s.active++
		s.perPeer[peer]++
		s.mu.Unlock()
		return admitted
	}
	if wait <= 0 || s.waiting.Len() >= queueFactor*maxTotal {
		s.mu.Unlock()
		return globalLimit
	}
	s.perPeer[peer]++
	w := &waiter{ch: make(chan struct{}), from: port}
	el := s.waiting.PushBack(w)
	s.from[port]++
	s.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ch:
		return admitted
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted { // handed over just as the wait ran out
		return admitted
	}
	s.waiting.Remove(el)
	s.unwait(w)
	s.dropPeer(peer)
	return globalLimit
}

// release gives peer's slot to the oldest waiting request, if any, unless
// a reload lowered maxTotal below the transfers still in progress.
func (s *slots) release(peer string, maxTotal int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropPeer(peer)
	s.active--
	// Normally this hands over the one slot just freed; after a reload
	// that raised maxTotal, it also fills the new ones.
	for s.active < maxTotal && s.waiting.Len() > 0 {
		w := s.waiting.Remove(s.waiting.Front()).(*waiter)
		s.unwait(w)
		w.granted = true
		close(w.ch)
		s.active++
	}
}

func (s *slots) unwait(w *waiter) {
	if s.from[w.from]--; s.from[w.from] <= 0 {
		delete(s.from, w.from)
	}
}

func (s *slots) dropPeer(peer string) {
	if s.perPeer[peer]--; s.perPeer[peer] <= 0 {
		delete(s.perPeer, peer)
	}
}

// counts reports the transfers in progress, the requests waiting, and
// peer's share of both.
func (s *slots) counts(peer string) (active, waiting, fromPeer int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active, s.waiting.Len(), s.perPeer[peer]
}
