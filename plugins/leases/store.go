package leases

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options configure a Store.
type Options struct {
	Path         string        // journal file; empty keeps leases in memory only (tests)
	OfferTTL     time.Duration // how long an offer reserves an address; default 30s
	SyncInterval time.Duration // fsync delay for acknowledged leases; default 100ms, negative = every ACK
	DeclineHold  time.Duration // how long a declined address is quarantined; default 10m
	Retain       time.Duration // how long an expired lease is remembered for its client; default 7 days
	Family       string        // metrics label, "v4" or "v6"
	Now          func() time.Time
}

type offer struct {
	client  string
	expires time.Time
}

// Store holds the leases of one or more pools. It is safe for concurrent
// use: CoreDHCP handles every packet on its own goroutine.
type Store struct {
	opts Options
	log  *zap.Logger
	now  func() time.Time

	mu       sync.Mutex
	byIP     map[netip.Addr]*Lease // current or last lease at an address
	byClient map[string]*Lease     // current or last lease of a client
	offers   map[netip.Addr]offer
	offerOf  map[string]netip.Addr // a client's latest offer, for Withdraw
	declined map[netip.Addr]time.Time
	reserved map[netip.Addr]bool // never leased: the server's own addresses, routers

	j *journal
}

// SetReserved replaces the addresses that are never offered or leased,
// even inside a pool (the server's address, a router).
func (s *Store) SetReserved(addrs ...netip.Addr) {
	m := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			m[a.Unmap()] = true
		}
	}
	s.mu.Lock()
	s.reserved = m
	s.mu.Unlock()
}

// Open replays the journal at opts.Path, if any, and returns the store.
func Open(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Store, error) {
	if opts.OfferTTL <= 0 {
		opts.OfferTTL = 30 * time.Second
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 100 * time.Millisecond
	}
	if opts.DeclineHold <= 0 {
		opts.DeclineHold = 10 * time.Minute
	}
	if opts.Retain <= 0 {
		opts.Retain = 7 * 24 * time.Hour
	}
	s := &Store{opts: opts, log: log, now: opts.Now,
		byIP: map[netip.Addr]*Lease{}, byClient: map[string]*Lease{},
		offers: map[netip.Addr]offer{}, offerOf: map[string]netip.Addr{}, declined: map[netip.Addr]time.Time{}}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Path != "" {
		j, err := openJournal(opts.Path, opts.SyncInterval, s, log)
		if err != nil {
			return nil, err
		}
		s.j = j
	}
	registerMetrics(reg, s)
	return s, nil
}

// Close flushes and syncs the journal.
func (s *Store) Close() error {
	if s.j == nil {
		return nil
	}
	return s.j.close()
}

// Offer picks an address for clientID in pool and reserves it for the
// offer TTL (in memory only): the client's own lease if it is in the pool,
// else requested if free, else a free address. Never-used addresses are
// preferred to other clients' expired ones, so a device that comes back
// finds its old address.
func (s *Store) Offer(pool Pool, clientID string, requested netip.Addr) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l := s.byClient[clientID]; l != nil && pool.Contains(l.IP) && s.freeFor(l.IP, clientID, now, true) {
		return s.reserve(l.IP, clientID, now), nil
	}
	requested = requested.Unmap()
	if pool.Contains(requested) && s.freeFor(requested, clientID, now, false) {
		return s.reserve(requested, clientID, now), nil
	}
	for _, allowUsed := range []bool{false, true} {
		if ip, ok := s.probe(pool, clientID, now, allowUsed); ok {
			return s.reserve(ip, clientID, now), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrPoolExhausted, pool)
}

// maxProbes bounds the search in huge (IPv6) pools; with a pool of 2^64 a
// collision is already unlikely at the first try.
const maxProbes = 1 << 17

// probe looks for a free address starting from a hash of the client, so
// concurrent clients spread over the pool instead of contending for the
// lowest address.
func (s *Store) probe(pool Pool, clientID string, now time.Time, allowUsed bool) (netip.Addr, bool) {
	size := pool.Size()
	h := fnv.New64a()
	h.Write([]byte(clientID))
	start := h.Sum64() % size
	tries := min(size, maxProbes)
	for i := uint64(0); i < tries; i++ {
		ip := pool.At((start + i) % size)
		if !allowUsed {
			if l := s.byIP[ip]; l != nil && l.ClientID != clientID {
				continue
			}
		}
		if s.freeFor(ip, clientID, now, allowUsed) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// freeFor reports whether clientID may take ip: not quarantined, not leased
// to another client, not offered to another client. With allowUsed, an
// expired lease of another client does not count.
func (s *Store) freeFor(ip netip.Addr, clientID string, now time.Time, allowUsed bool) bool {
	if s.reserved[ip] {
		return false
	}
	if until, ok := s.declined[ip]; ok && now.Before(until) {
		return false
	}
	if o, ok := s.offers[ip]; ok && o.client != clientID && now.Before(o.expires) {
		return false
	}
	if l := s.byIP[ip]; l != nil && l.ClientID != clientID {
		return allowUsed && !l.Active(now)
	}
	return true
}

func (s *Store) reserve(ip netip.Addr, clientID string, now time.Time) netip.Addr {
	s.offers[ip] = offer{clientID, now.Add(s.opts.OfferTTL)}
	s.offerOf[clientID] = ip
	return ip
}

// Withdraw drops clientID's outstanding offer and reports whether there
// was one: the client chose another server's offer (RFC 2131 sections 3.1
// and 4.3.2: servers not chosen take the REQUEST as notification that the
// client declined their offer), so the address is free for the next client
// now instead of when the offer expires. With two servers answering every
// DISCOVER, each would otherwise hold an address for every device the
// other serves. Leases are not touched.
func (s *Store) Withdraw(clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip, ok := s.offerOf[clientID]
	if !ok {
		return false
	}
	delete(s.offerOf, clientID)
	if o, held := s.offers[ip]; held && o.client == clientID && s.now().Before(o.expires) {
		delete(s.offers, ip)
		return true
	}
	return false
}

// Ack binds l.IP to l.ClientID for ttl and writes the lease to the journal
// before returning. ErrNotAvailable when the address is outside pool or
// held by another client (RFC 2131 section 4.3.2: the caller NAKs).
func (s *Store) Ack(pool Pool, l Lease, ttl time.Duration) (Lease, error) {
	l.IP = l.IP.Unmap()
	if !pool.Contains(l.IP) {
		return Lease{}, fmt.Errorf("%w: %s is not in pool %s", ErrNotAvailable, l.IP, pool)
	}
	s.mu.Lock()
	now := s.now()
	if !s.freeFor(l.IP, l.ClientID, now, true) {
		s.mu.Unlock()
		return Lease{}, fmt.Errorf("%w: %s", ErrNotAvailable, l.IP)
	}
	l.Expires = now.Add(ttl).Truncate(time.Second)
	s.install(&l)
	delete(s.offers, l.IP)
	if s.offerOf[l.ClientID] == l.IP {
		delete(s.offerOf, l.ClientID)
	}
	s.mu.Unlock()
	if s.j != nil {
		if err := s.j.append(recordAck(l)); err != nil {
			return Lease{}, fmt.Errorf("persist lease %s: %w", l.IP, err)
		}
	}
	return l, nil
}

// install makes l the client's lease, dropping the client's lease at
// another address. Callers hold s.mu.
func (s *Store) install(l *Lease) {
	if old := s.byClient[l.ClientID]; old != nil && old.IP != l.IP && s.byIP[old.IP] == old {
		delete(s.byIP, old.IP)
	}
	if prev := s.byIP[l.IP]; prev != nil && prev.ClientID != l.ClientID && s.byClient[prev.ClientID] == prev {
		delete(s.byClient, prev.ClientID)
	}
	s.byIP[l.IP], s.byClient[l.ClientID] = l, l
}

// Release ends clientID's lease on ip (RFC 2131 section 4.3.4). The lease
// is remembered, expired, so the client gets the same address back.
func (s *Store) Release(clientID string, ip netip.Addr) error {
	ip = ip.Unmap()
	s.mu.Lock()
	l := s.byIP[ip]
	if l == nil || l.ClientID != clientID {
		s.mu.Unlock()
		return nil
	}
	l.Expires = s.now().Truncate(time.Second)
	at := l.Expires
	s.mu.Unlock()
	if s.j != nil {
		return s.j.append(recordRelease(ip, clientID, at))
	}
	return nil
}

// Decline quarantines ip: a client found it in use (RFC 2131 section
// 4.3.3).
func (s *Store) Decline(ip netip.Addr) error {
	ip = ip.Unmap()
	s.mu.Lock()
	until := s.now().Add(s.opts.DeclineHold).Truncate(time.Second)
	s.declined[ip] = until
	if l := s.byIP[ip]; l != nil {
		delete(s.byIP, ip)
		if s.byClient[l.ClientID] == l {
			delete(s.byClient, l.ClientID)
		}
	}
	s.mu.Unlock()
	if s.j != nil {
		return s.j.append(recordDecline(ip, until))
	}
	return nil
}

// Quarantined says whether ip was declined and is still held back.
func (s *Store) Quarantined(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.declined[ip.Unmap()]
	return ok && s.now().Before(until)
}

// LookupIP returns the device holding an active lease on ip. It implements
// the TFTP server's Bindings.
func (s *Store) LookupIP(ip netip.Addr) (serial string, mac net.HardwareAddr, ok bool) {
	ip = ip.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.byIP[ip]
	if l == nil || !l.Active(s.now()) {
		return "", nil, false
	}
	return l.Serial, l.MAC, true
}

// LookupClient returns clientID's current or last lease.
func (s *Store) LookupClient(clientID string) (Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.byClient[clientID]
	if l == nil {
		return Lease{}, false
	}
	return *l, true
}

// Leases returns every remembered lease, active or expired, by address.
func (s *Store) Leases() []Lease {
	s.mu.Lock()
	out := make([]Lease, 0, len(s.byIP))
	for _, l := range s.byIP {
		out = append(out, *l)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// active counts the leases in force, for the metrics.
func (s *Store) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for _, l := range s.byIP {
		if l.Active(now) {
			n++
		}
	}
	return n
}

// expire forgets expired leases older than Retain, offers past their TTL
// and finished quarantines. The journal's compaction calls it.
func (s *Store) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for ip, l := range s.byIP {
		if now.Sub(l.Expires) > s.opts.Retain {
			delete(s.byIP, ip)
			if s.byClient[l.ClientID] == l {
				delete(s.byClient, l.ClientID)
			}
		}
	}
	for ip, o := range s.offers {
		if !now.Before(o.expires) {
			delete(s.offers, ip)
		}
	}
	for c, ip := range s.offerOf {
		if o, ok := s.offers[ip]; !ok || o.client != c {
			delete(s.offerOf, c)
		}
	}
	for ip, until := range s.declined {
		if !now.Before(until) {
			delete(s.declined, ip)
		}
	}
}
