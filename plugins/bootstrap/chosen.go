package bootstrap

import (
	"sync"
	"time"
)

// chosen remembers the DHCPv4 transactions in which a client requested
// another server's offer. CoreDHCP handles every packet on its own
// goroutine, so under a burst the REQUEST naming the other server can be
// handled before the DISCOVER of the same transaction (same xid, RFC 2131
// 4.1): that DISCOVER's offer would come too late to be withdrawn and hold
// an address for the offer's whole lifetime. Such a DISCOVER gets no offer.
// A new transaction (a new xid) is answered as usual.
type chosen struct {
	mu   sync.Mutex
	ttl  time.Duration
	seen map[chosenKey]time.Time
}

type chosenKey struct {
	client string
	xid    [4]byte
}

// maxChosen bounds memory under a flood of REQUESTs naming other servers.
const maxChosen = 1 << 14

func newChosen(ttl time.Duration) *chosen {
	return &chosen{ttl: ttl, seen: map[chosenKey]time.Time{}}
}

// elsewhere records that client requested another server's offer in
// transaction xid.
func (c *chosen) elsewhere(client string, xid [4]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= maxChosen {
		for k, at := range c.seen {
			if now.Sub(at) >= c.ttl {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxChosen {
			clear(c.seen)
		}
	}
	c.seen[chosenKey{client, xid}] = now
}

// already says whether client chose another server in transaction xid
// within the last ttl.
func (c *chosen) already(client string, xid [4]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.seen[chosenKey{client, xid}]
	return ok && now.Sub(at) < c.ttl
}
