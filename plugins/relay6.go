package plugins

import (
	"context"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/server"
	"go.uber.org/zap"
)

// relayListeners keeps a DHCPv6 listener on each global address of the
// DHCPv6 interfaces, where relays send their Relay-forward messages (RFC
// 8415 section 19.1); clients on the link use the multicast groups, which
// the main listeners cover. An address cannot always be bound when sealboot
// starts: it is tentative during duplicate address detection, and stays so
// for as long as the link has no carrier (a provisioning port whose switch
// is not up yet). Addresses also come and go while sealboot runs. So each
// one gets its own listener once it can be bound, and loses it when it is
// removed; a check runs every few seconds. DHCP on the interface does not
// wait for any of this.
type relayListeners struct {
	ifaces []string
	h      handler.Handler6
	log    *zap.Logger
	added  func() // after a listener is opened (its receive buffer)
	// announce: log each listener opened; off for the first sync, whose
	// listeners the "dhcpv6 listening" line lists.
	announce bool

	mu      sync.Mutex
	open    map[string]relayListener // by "[addr%zone]:547"
	waiting map[string]bool          // could not be bound; logged once
}

// relayListener is one address's listener.
type relayListener struct {
	srv  *server.Servers
	addr net.UDPAddr
}

func newRelayListeners(ifaces []string, h handler.Handler6, log *zap.Logger) *relayListeners {
	return &relayListeners{ifaces: ifaces, h: h, log: log, open: map[string]relayListener{}, waiting: map[string]bool{}}
}

// addresses lists the global addresses of the interfaces, "addr%zone"
// keyed.
func (r *relayListeners) addresses() map[string]net.UDPAddr {
	out := map[string]net.UDPAddr{}
	for _, a := range globalAddrs6(r.ifaces) {
		u := net.UDPAddr{IP: a.net.IP, Port: 547, Zone: a.iface}
		out[u.String()] = u
	}
	return out
}

// sync opens listeners on the addresses that have none and closes those
// of addresses that are gone.
func (r *relayListeners) sync() {
	want := r.addresses()
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, l := range r.open {
		if _, ok := want[key]; !ok {
			l.srv.Close()
			delete(r.open, key)
			r.log.Info("dhcpv6: address removed; no longer listening for relays on it", zap.String("address", key))
		}
	}
	for key := range r.waiting {
		if _, ok := want[key]; !ok {
			delete(r.waiting, key)
		}
	}
	var opened bool
	for key, a := range want {
		if _, ok := r.open[key]; ok {
			continue
		}
		srv, err := startCoreDHCP(nil, nil, []handler.Handler6{r.h}, []net.UDPAddr{a})
		if err != nil {
			if !r.waiting[key] {
				r.waiting[key] = true
				// CoreDHCP's error does not wrap the errno.
				if strings.Contains(err.Error(), syscall.EADDRNOTAVAIL.Error()) {
					r.log.Info("dhcpv6: address not usable yet (tentative: duplicate address detection, or the link has no carrier); listening for relays on it once it is",
						zap.String("address", key))
				} else {
					r.log.Warn("dhcpv6: cannot listen for relays on this address; retrying", zap.String("address", key), zap.Error(err))
				}
			}
			continue
		}
		r.open[key] = relayListener{srv: srv, addr: a}
		opened = true
		if r.announce || r.waiting[key] {
			r.log.Info("dhcpv6: listening for relays", zap.String("address", key))
		}
		delete(r.waiting, key)
		go r.watch(key, srv)
	}
	if opened && r.added != nil {
		r.added()
	}
}

// watch forgets a listener that stopped on its own (the next sync opens
// it again); a closed one is already forgotten.
func (r *relayListeners) watch(key string, srv *server.Servers) {
	err := srv.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open[key].srv == srv {
		delete(r.open, key)
		r.log.Warn("dhcpv6: relay listener stopped; reopening", zap.String("address", key), zap.Error(err))
	}
}

// listening lists the addresses of iface listened on now, sorted.
func (r *relayListeners) listening(iface string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for _, l := range r.open {
		if l.addr.Zone == iface {
			out = append(out, l.addr.IP.String())
		}
	}
	sort.Strings(out)
	return out
}

// run checks the addresses every interval until ctx is done, then closes
// every listener.
func (r *relayListeners) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			for key, l := range r.open {
				l.srv.Close()
				delete(r.open, key)
			}
			r.mu.Unlock()
			return
		case <-t.C:
			r.sync()
		}
	}
}
