package leases

import "net/netip"

// InUse counts the addresses of pool that are not free: leased, offered
// and not yet expired, quarantined after a decline, or reserved (the
// server's own, routers). Pool size minus this is what is left to lease.
func (s *Store) InUse(pool Pool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	used := map[netip.Addr]struct{}{}
	for ip, l := range s.byIP {
		if l.Active(now) && pool.Contains(ip) {
			used[ip] = struct{}{}
		}
	}
	for ip, o := range s.offers {
		if now.Before(o.at.Add(s.opts.OfferTTL)) && pool.Contains(ip) {
			used[ip] = struct{}{}
		}
	}
	for ip, until := range s.declined {
		if now.Before(until) && pool.Contains(ip) {
			used[ip] = struct{}{}
		}
	}
	for ip := range s.reserved {
		if pool.Contains(ip) {
			used[ip] = struct{}{}
		}
	}
	return len(used)
}
