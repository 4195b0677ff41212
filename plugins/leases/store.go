package leases

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options configure a Store.
type Options struct {
	Path     string        // journal file; empty keeps leases in memory only (tests)
	OfferTTL time.Duration // how long an offer reserves an address; default 30s
	// PressureTTL is how long an offer to an unknown device holds its
	// address when the pool has nothing free; default 5s. See offers.go.
	PressureTTL        time.Duration
	MaxOffersPerSerial int           // offers one serial may hold at once; default 4
	MaxOffers          int           // offers held at once, all pools; default 65536
	SyncInterval       time.Duration // fsync delay for acknowledged leases; default 100ms, negative = every ACK
	DeclineHold        time.Duration // how long a declined address is quarantined; default 10m
	Retain             time.Duration // how long an expired lease is remembered for its client; default 7 days
	Family             string        // metrics label, "v4" or "v6"
	Now                func() time.Time
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
	declined map[netip.Addr]time.Time
	reserved map[netip.Addr]bool // never leased: the server's own addresses, routers

	offers  map[netip.Addr]*offer   // see offers.go
	offerOf map[string]netip.Addr   // the one offer of a client
	serials map[string][]netip.Addr // addresses offered per serial, oldest first
	pools   map[Pool]*poolOffers    // offers by age

	preempted, reclaimed, serialLimited atomic.Int64

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
	if opts.PressureTTL <= 0 {
		opts.PressureTTL = 5 * time.Second
	}
	if opts.MaxOffersPerSerial <= 0 {
		opts.MaxOffersPerSerial = 4
	}
	if opts.MaxOffers <= 0 {
		opts.MaxOffers = 1 << 16
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
		declined: map[netip.Addr]time.Time{}, offers: map[netip.Addr]*offer{}, offerOf: map[string]netip.Addr{},
		serials: map[string][]netip.Addr{}, pools: map[Pool]*poolOffers{}}
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

// Offer reserves an address for clientID as Reserve does, for a client
// with no known serial.
func (s *Store) Offer(pool Pool, clientID string, requested netip.Addr) (netip.Addr, error) {
	r, err := s.Reserve(pool, OfferRequest{ClientID: clientID, Requested: requested})
	return r.IP, err
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
	return !s.offerBlocks(ip, clientID, now) && s.usable(ip, clientID, now, allowUsed)
}

// usable is freeFor without the offers.
func (s *Store) usable(ip netip.Addr, clientID string, now time.Time, allowUsed bool) bool {
	if s.reserved[ip] {
		return false
	}
	if until, ok := s.declined[ip]; ok && now.Before(until) {
		return false
	}
	if l := s.byIP[ip]; l != nil && l.ClientID != clientID {
		return allowUsed && !l.Active(now)
	}
	return true
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
	s.removeOffer(l.IP)
	if other, ok := s.offerOf[l.ClientID]; ok { // it chose this address
		s.removeOffer(other)
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
	s.removeOffer(ip)
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
	s.dropExpiredOffers(now)
	for ip, until := range s.declined {
		if !now.Before(until) {
			delete(s.declined, ip)
		}
	}
}
