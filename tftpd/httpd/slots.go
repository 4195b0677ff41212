package httpd

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// slots count the requests in progress, in all and per client address.
// Unlike TFTP's, a request that finds no slot is refused at once (503
// with Retry-After): an HTTP client holds a connection while it waits.
type slots struct {
	perPeer fetch.Held[netip.Addr]
	mu      sync.Mutex
	total   int
	idle    chan struct{} // closed when total drops to zero (shutdown)
}

// acquire takes a slot for peer, or says why not.
func (s *slots) acquire(peer netip.Addr, cfg *Config) (ok bool, why string) {
	if held, ok := s.perPeer.Take(peer, cfg.MaxPerClient); !ok {
		return false, fmt.Sprintf("per-client limit reached (%d requests from this client, http.max_per_client %d)", held, cfg.MaxPerClient)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= cfg.MaxRequests {
		s.perPeer.Put(peer)
		return false, fmt.Sprintf("request limit reached (%d in progress, http.max_requests %d)", s.total, cfg.MaxRequests)
	}
	s.total++
	return true, ""
}

func (s *slots) release(peer netip.Addr) {
	s.perPeer.Put(peer)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.total == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

func (s *slots) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// drained is closed once no request holds a slot.
func (s *slots) drained() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	return s.idle
}
