package fetch

import "sync"

// Held counts what each key (a client address, a device serial) holds at
// once — requests in progress, open connections — for the transports'
// per-client limits. The zero value is ready.
type Held[K comparable] struct {
	mu sync.Mutex
	n  map[K]int
}

// Take counts one more for k unless k holds max already; it returns what
// k held before.
func (h *Held[K]) Take(k K, max int) (held int, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	held = h.n[k]
	if held >= max {
		return held, false
	}
	if h.n == nil {
		h.n = map[K]int{}
	}
	h.n[k]++
	return held, true
}

// Put gives back one that Take counted.
func (h *Held[K]) Put(k K) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[k]--; h.n[k] <= 0 {
		delete(h.n, k)
	}
}

// Len is the number of keys holding something.
func (h *Held[K]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.n)
}
