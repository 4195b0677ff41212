package leases

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Offers (DISCOVER, Solicit) are what an unauthenticated client can make
// sealboot hold: an address reserved for a while, in memory. Without
// limits, DISCOVERs from made-up MACs and serials keep a pool empty at a
// few packets a second, and a real device gets no OFFER. So:
//
//   - a client holds at most one offer: its retransmitted DISCOVERs get
//     the same address, whatever they ask for;
//   - a serial holds at most Options.MaxOffersPerSerial offers; a client
//     asking for one more takes the place of the serial's oldest offer,
//     which is withdrawn (a serial is no secret: refusing the newcomer
//     would let anyone who saw a device's DISCOVER keep it from ever
//     getting an offer with a few packets a minute);
//   - when the pool has nothing free, an offer to a device sealboot does not
//     know (no certificate, no config) that is older than
//     Options.PressureTTL goes to the next client that asks: under
//     pressure offers of unknown devices are held that long, not OfferTTL;
//   - a known device that finds nothing free takes the oldest offer of an
//     unknown device, however young; with none, the oldest offer of another
//     known device older than PressureTTL (serials are no secret: someone
//     sending known serials must not hold the pool with them either). An
//     acknowledged lease is never taken.
//   - at most Options.MaxOffers offers are held at once (memory, for huge
//     DHCPv6 pools); past that the pool counts as having nothing free.

// OfferRequest is a client asking for an offer.
type OfferRequest struct {
	ClientID  string     // see ClientID4 and ClientID6
	Serial    string     // the device's serial; "" when not recognised
	Known     bool       // sealboot has a certificate or a config for Serial
	Requested netip.Addr // the client's hint (option 50, IA address); may be zero
}

// Reservation is the address offered, and the offer it replaced, if any.
type Reservation struct {
	IP netip.Addr
	// Taken is the client whose offer this one replaced ("" when the
	// address was free), TakenSerial its serial; Preempted says a known
	// device took an unknown one's offer, otherwise the offer had outlived
	// PressureTTL with nothing free in the pool.
	Taken, TakenSerial string
	Preempted          bool
	// Withdrawn is the client whose offer was dropped to keep the serial
	// within Options.MaxOffersPerSerial ("" when none was).
	Withdrawn string
}

// offer is an address reserved for a client.
type offer struct {
	client string
	serial string
	known  bool
	at     time.Time
	pool   Pool
}

// queued is an offer in its pool's queue; stale once the address's offer
// is another (or none).
type queued struct {
	ip netip.Addr
	o  *offer
}

// offerQueue holds a pool's offers in the order they were made: the head
// is the oldest, the next to expire.
type offerQueue struct {
	q    []queued
	head int
}

func (q *offerQueue) push(e queued) { q.q = append(q.q, e) }
func (q *offerQueue) empty() bool   { return q.head == len(q.q) }
func (q *offerQueue) peek() queued  { return q.q[q.head] }

func (q *offerQueue) pop() {
	q.q[q.head] = queued{}
	q.head++
	if q.head > 64 && q.head*2 > len(q.q) {
		q.q = append(q.q[:0:0], q.q[q.head:]...)
		q.head = 0
	}
}

// poolOffers are one pool's offers by age: [0] unknown devices', [1]
// known devices'.
type poolOffers [2]offerQueue

func class(known bool) int {
	if known {
		return 1
	}
	return 0
}

// Reserve picks an address for req.ClientID in pool and reserves it for
// the offer TTL (in memory only): the client's outstanding offer, its own
// lease if in the pool, the requested address if free, or a free one —
// never-used addresses before other clients' expired ones, so a device that
// comes back finds its old address. With nothing free it applies the rules
// above (a known device first).
func (s *Store) Reserve(pool Pool, req OfferRequest) (Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.dropExpiredOffers(now)
	c := req.ClientID
	if ip, ok := s.offerOf[c]; ok {
		if pool.Contains(ip) && s.freeFor(ip, c, now, true) {
			return Reservation{IP: ip}, nil
		}
		s.removeOffer(ip) // in another pool, or no longer usable
	}
	if l := s.byClient[c]; l != nil && pool.Contains(l.IP) && s.freeFor(l.IP, c, now, true) {
		return s.reserve(pool, l.IP, req, now), nil
	}
	withdrawn := ""
	if held := s.serials[req.Serial]; req.Serial != "" && len(held) >= s.opts.MaxOffersPerSerial {
		withdrawn = s.offers[held[0]].client
		s.removeOffer(held[0])
		s.serialLimited.Add(1)
	}
	r, err := s.reserveFree(pool, req, now)
	r.Withdrawn = withdrawn
	return r, err
}

// reserveFree is Reserve for a client with no offer or lease to keep:
// the requested address, a free one, or another client's offer (takeOffer).
func (s *Store) reserveFree(pool Pool, req OfferRequest, now time.Time) (Reservation, error) {
	c := req.ClientID
	if len(s.offers) < s.opts.MaxOffers {
		requested := req.Requested.Unmap()
		if pool.Contains(requested) && s.freeFor(requested, c, now, false) {
			return s.reserve(pool, requested, req, now), nil
		}
		for _, allowUsed := range []bool{false, true} {
			if ip, ok := s.probe(pool, c, now, allowUsed); ok {
				return s.reserve(pool, ip, req, now), nil
			}
		}
	}
	if r, ok := s.takeOffer(pool, req, now); ok {
		return r, nil
	}
	return Reservation{}, fmt.Errorf("%w: %s", ErrPoolExhausted, pool)
}

// takeOffer gives req an address offered to another client when the pool
// has nothing free: to a known device, the oldest offer of an unknown one
// (preempted), else the oldest of a known one past PressureTTL; to an
// unknown device, the oldest of an unknown one past PressureTTL.
func (s *Store) takeOffer(pool Pool, req OfferRequest, now time.Time) (Reservation, bool) {
	po := s.pools[pool]
	if po == nil {
		return Reservation{}, false
	}
	if req.Known {
		if r, ok := s.takeOldest(pool, &po[class(false)], req, now, 0); ok {
			s.preempted.Add(1)
			r.Preempted = true
			return r, true
		}
	}
	r, ok := s.takeOldest(pool, &po[class(req.Known)], req, now, s.opts.PressureTTL)
	if ok {
		s.reclaimed.Add(1)
	}
	return r, ok
}

// takeOldest gives req the address of the oldest offer in q, if at least
// minAge old.
func (s *Store) takeOldest(pool Pool, q *offerQueue, req OfferRequest, now time.Time, minAge time.Duration) (Reservation, bool) {
	for !q.empty() {
		e := q.peek()
		if s.offers[e.ip] != e.o {
			q.pop()
			continue
		}
		if now.Sub(e.o.at) < minAge {
			return Reservation{}, false
		}
		s.removeOffer(e.ip)
		if !s.usable(e.ip, req.ClientID, now, true) {
			continue // declined or reserved since it was offered
		}
		r := s.reserve(pool, e.ip, req, now)
		r.Taken, r.TakenSerial = e.o.client, e.o.serial
		return r, true
	}
	return Reservation{}, false
}

// reserve offers ip to req's client, which gives up any other offer.
// Callers hold s.mu.
func (s *Store) reserve(pool Pool, ip netip.Addr, req OfferRequest, now time.Time) Reservation {
	if s.offers[ip] != nil {
		s.removeOffer(ip)
	}
	if old, ok := s.offerOf[req.ClientID]; ok {
		s.removeOffer(old)
	}
	o := &offer{client: req.ClientID, serial: req.Serial, known: req.Known, at: now, pool: pool}
	s.offers[ip], s.offerOf[req.ClientID] = o, ip
	if o.serial != "" {
		s.serials[o.serial] = append(s.serials[o.serial], ip)
	}
	po := s.pools[o.pool]
	if po == nil {
		po = &poolOffers{}
		s.pools[o.pool] = po
	}
	po[class(o.known)].push(queued{ip, o})
	return Reservation{IP: ip}
}

// Withdraw drops clientID's outstanding offer and reports whether there
// was one in force: the client chose another server's offer (RFC 2131
// sections 3.1 and 4.3.2: servers not chosen take the REQUEST as
// notification that the client declined their offer), so the address is
// free for the next client now instead of when the offer expires. With two
// servers answering every DISCOVER, each would otherwise hold an address
// for every device the other serves. Leases are not touched.
func (s *Store) Withdraw(clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip, ok := s.offerOf[clientID]
	if !ok {
		return false
	}
	o := s.offers[ip]
	live := o != nil && s.now().Before(o.at.Add(s.opts.OfferTTL))
	s.removeOffer(ip)
	return live
}

// removeOffer forgets the offer at ip. Its queue entry goes stale. Callers
// hold s.mu.
func (s *Store) removeOffer(ip netip.Addr) {
	o := s.offers[ip]
	if o == nil {
		return
	}
	delete(s.offers, ip)
	if s.offerOf[o.client] == ip {
		delete(s.offerOf, o.client)
	}
	if o.serial != "" {
		held := slices.DeleteFunc(s.serials[o.serial], func(a netip.Addr) bool { return a == ip })
		if len(held) == 0 {
			delete(s.serials, o.serial)
		} else {
			s.serials[o.serial] = held
		}
	}
}

// dropExpiredOffers forgets offers past OfferTTL: they are at the heads of
// the queues. Callers hold s.mu.
func (s *Store) dropExpiredOffers(now time.Time) {
	for pool, po := range s.pools {
		for i := range po {
			q := &po[i]
			for !q.empty() {
				e := q.peek()
				if s.offers[e.ip] == e.o && now.Before(e.o.at.Add(s.opts.OfferTTL)) {
					break
				}
				if s.offers[e.ip] == e.o {
					s.removeOffer(e.ip)
				}
				q.pop()
			}
		}
		if po[0].empty() && po[1].empty() {
			delete(s.pools, pool)
		}
	}
}

// offerBlocks says whether the offer at ip keeps clientID from it at now.
func (s *Store) offerBlocks(ip netip.Addr, clientID string, now time.Time) bool {
	o := s.offers[ip]
	return o != nil && o.client != clientID && now.Before(o.at.Add(s.opts.OfferTTL))
}
