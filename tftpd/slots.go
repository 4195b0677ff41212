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
// waiting requests count towards its own limit. (A client's retransmission
// of a waiting request never gets here: see requests.)
type slots struct {
	mu      sync.Mutex
	active  int
	perPeer map[string]int // by client address, active and waiting
	waiting list.List      // of *waiter, oldest first
}

type waiter struct {
	ch      chan struct{} // closed when the slot is handed over
	granted bool
}

// queueFactor bounds the line at this many times MaxTransfers.
const queueFactor = 4

type refusal int

const (
	admitted refusal = iota
	clientLimit
	globalLimit
)

// acquire takes a slot for peer (a client address), waiting up to wait
// when all are taken.
func (s *slots) acquire(peer string, maxTotal, maxPerClient int, wait time.Duration) refusal {
	s.mu.Lock()
	if s.perPeer[peer] >= maxPerClient {
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
	w := &waiter{ch: make(chan struct{})}
	el := s.waiting.PushBack(w)
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
		w.granted = true
		close(w.ch)
		s.active++
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

// requests recognises a retransmitted request: the same file asked for
// again from the same client address and port while the first copy is
// still waiting for a slot or being served. A client that has waited
// longer than its retransmission timeout sends its request again, and
// pin/tftp answers every copy from a new port (TID). Were each copy served
// in turn, the later ones would hold a slot and a place in line for
// nothing (the client takes the first answer only) and end in a timeout;
// were they refused, the refusal could reach the client before the first
// copy's answer, and the client would give up. So a copy waits, holding no
// slot, until the first copy is done, and then ends: its error packet,
// from a TID the client never used, is ignored or finds the port closed.
type requests struct {
	mu sync.Mutex
	m  map[string]*request
}

type request struct {
	done   chan struct{}
	copies int
}

// maxCopies bounds the copies of one request kept waiting (each holds a
// goroutine and a socket); beyond it a copy ends at once.
const maxCopies = 8

// join registers a request under key. When the same request is in
// progress it returns first false, and the channel closed when that one
// is done (nil when too many copies already wait).
func (r *requests) join(key string) (first bool, done <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q, ok := r.m[key]; ok {
		if q.copies >= maxCopies {
			return false, nil
		}
		q.copies++
		return false, q.done
	}
	r.m[key] = &request{done: make(chan struct{})}
	return true, nil
}

// leave ends the first copy of the request under key, and so its copies.
func (r *requests) leave(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.m[key].done)
	delete(r.m, key)
}
