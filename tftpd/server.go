package tftpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Server is the TFTP server.
type Server struct {
	fetch   Fetcher
	log     *zap.Logger
	m       *metrics
	cfg     atomic.Pointer[Config]
	listen  []string
	ready   chan struct{}
	addrsMu sync.Mutex
	addrs   []net.Addr

	tuning    sync.Mutex // guards servers and conns
	servers   []*tftp.Server
	conns     []net.PacketConn
	pressured atomic.Bool // at least half the slots taken: see tune

	slots    slots
	requests requests
	blksize  sync.Map // "ip:port" → *transferInfo, filled by the pin/tftp hook
	inflight sync.Map // *transfer → copy of it taken as its transfer began
}

// New returns a server that serves what f prepares; Run starts it.
func New(cfg Config, f Fetcher, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if f == nil {
		return nil, fmt.Errorf("tftpd: a fetcher is required")
	}
	cfg = cfg.withDefaults()
	s := &Server{fetch: f, log: log, listen: cfg.Listen, ready: make(chan struct{})}
	s.slots.perPeer, s.requests.m = map[string]int{}, map[string]*request{}
	s.m = newMetrics(reg, &s.slots, s.receiveDrops)
	s.cfg.Store(&cfg)
	return s, nil
}

// Update applies a new configuration's limits and timeouts (SIGHUP).
// Listen addresses change only on restart.
func (s *Server) Update(cfg Config) error {
	cfg = cfg.withDefaults()
	s.cfg.Store(&cfg)
	s.tune(true)
	return nil
}

// Ready is closed when every listen address is bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound addresses (after Ready).
func (s *Server) Addrs() []net.Addr {
	s.addrsMu.Lock()
	defer s.addrsMu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Run binds every listen address, serves until ctx is done, then waits at
// most ShutdownTimeout for transfers in progress.
func (s *Server) Run(ctx context.Context) error {
	cfg := *s.cfg.Load()
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, addr := range cfg.Listen {
		c, err := s.bind(ctx, addr)
		if err != nil {
			return err // "listen udp :69: bind: permission denied"
		}
		conns = append(conns, c)
	}
	s.configureSockets(conns, cfg.ReceiveBuffer)
	servers := make([]*tftp.Server, len(conns))
	errc := make(chan error, len(conns))
	for i, c := range conns {
		srv := tftp.NewServer(s.handleRead, s.handleWrite)
		srv.SetHook(hook{s})
		servers[i] = srv
		serve := c
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && ua.Zone != "" {
			// A link-local address: see zoned.
			serve = zoned{c}
			srv.SetBlockSizeNegotiation(false)
		}
		go func() { errc <- srv.Serve(serve) }()
		s.addrsMu.Lock()
		s.addrs = append(s.addrs, c.LocalAddr())
		s.addrsMu.Unlock()
		s.log.Info("tftp listening", zap.String("listen", c.LocalAddr().String()))
	}
	s.tuning.Lock()
	s.servers, s.conns = servers, conns
	s.tuning.Unlock()
	s.tune(true)
	close(s.ready)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	return s.shutdown(servers, cfg.ShutdownTimeout)
}

// shutdown stops accepting requests and waits for transfers in progress,
// but no longer than timeout: pin/tftp's Shutdown would wait for a stalled
// client's every retransmission.
func (s *Server) shutdown(servers []*tftp.Server, timeout time.Duration) error {
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, srv := range servers {
			wg.Go(srv.Shutdown)
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("tftp transfers still running at shutdown; not waiting for them",
			zap.Int("transfers", s.activeTransfers()), zap.Duration("waited", timeout))
		// Each still gets its one tftp.fetch event before the process
		// goes: aborted, by us.
		s.inflight.Range(func(_, v any) bool {
			t := v.(*transfer)
			t.Refuse(fetch.OutcomeAborted, "sealboot stopped before the transfer ended")
			t.Bytes, t.Blksize = t.sent.n.Load(), int(t.sent.size.Load())
			s.fetch.Finish(t.Attempt)
			return true
		})
	}
	return nil
}

// zoned serves a link-local listen address ([fe80::1%eth0]:69). pin/tftp
// cannot: it refuses a listen address with a zone, and binds each
// transfer's socket to the request's destination address without its zone,
// which the kernel rejects. Behind this wrapper pin/tftp sees the address
// without its zone and no *net.UDPConn, so it reads no packet information
// and binds each transfer to the unspecified address; replies to the
// client's zoned address then leave from the link-local address of that
// interface, the one the client asked. Without the interface's MTU,
// blksize is whatever the client asks (up to 65464), as with
// SetBlockSizeNegotiation(false).
type zoned struct{ net.PacketConn }

func (z zoned) LocalAddr() net.Addr {
	a := *z.PacketConn.LocalAddr().(*net.UDPAddr)
	a.Zone = ""
	return &a
}

// bind binds addr. An IPv6 address that this host has but cannot bind
// yet, because it is tentative (duplicate address detection, which lasts
// for as long as the link has no carrier: a provisioning port whose switch
// is not up yet), is bound anyway (IPV6_FREEBIND) and serves once it is
// usable, rather than keeping sealboot from starting. An address this host
// does not have is an error, as before.
func (s *Server) bind(ctx context.Context, addr string) (net.PacketConn, error) {
	c, err := net.ListenPacket(network(addr), addr)
	if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return c, err
	}
	ua, rerr := net.ResolveUDPAddr(network(addr), addr)
	if rerr != nil || ua.IP.To4() != nil || !hostHas(ua.IP) {
		return nil, fmt.Errorf("%w (no interface of this host has that address)", err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, ferr := lc.ListenPacket(ctx, network(addr), addr)
	if ferr != nil {
		return nil, err
	}
	s.log.Warn("tftp: address not usable yet (tentative: duplicate address detection, or the link has no carrier); listening on it, served once it is",
		zap.String("listen", addr))
	return c, nil
}

// hostHas says whether an interface of this host has ip.
func hostHas(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// network picks udp4 for an IPv4 literal, udp6 for an IPv6 literal (so
// "[::]:69" is IPv6 only), and dual-stack udp otherwise (":69").
func network(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "udp"
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		if ip.To4() != nil {
			return "udp4"
		}
		return "udp6"
	}
	return "udp"
}

// acquire takes a transfer slot for peer, waiting in line up to
// cfg.QueueWait when all are taken; otherwise it says why not.
func (s *Server) acquire(peer string, cfg *Config) (ok bool, why string) {
	r := s.slots.acquire(peer, cfg.MaxTransfers, cfg.MaxPerClient, cfg.QueueWait)
	if r == admitted {
		s.tune(false)
		return true, ""
	}
	active, waiting, mine := s.slots.counts(peer)
	if r == clientLimit {
		return false, fmt.Sprintf("per-client limit reached (%d transfers from this client, tftp.max_per_client %d)", mine, cfg.MaxPerClient)
	}
	return false, fmt.Sprintf("transfer limit reached (%d in progress, %d waiting, tftp.max_transfers %d; waited up to %s)", active, waiting, cfg.MaxTransfers, max(cfg.QueueWait, 0))
}

func (s *Server) release(peer string) {
	s.slots.release(peer, s.cfg.Load().MaxTransfers)
	s.tune(false)
}

func (s *Server) activeTransfers() int {
	n, _, _ := s.slots.counts("")
	return n
}

// Under pressure (at least half of tftp.max_transfers in progress), new
// transfers get a retransmission timeout of at most pressureTimeout and at
// most pressureRetries retransmissions: a client that asks and then never
// acknowledges (or vanished) holds its slot for seconds, not the half
// minute that 5 retries of 5 s take, while a device on the provisioning
// segment, whose round trip is milliseconds, is not slowed down. pin/tftp
// takes both values when a request arrives, so the change applies to the
// transfers that start from then on.
const (
	pressureTimeout = time.Second
	pressureRetries = 2
)

// tune sets the listeners' retransmission timeout and retries for the
// current load; force applies them even when the pressure did not change
// (start, reload).
func (s *Server) tune(force bool) {
	cfg := s.cfg.Load()
	active, _, _ := s.slots.counts("")
	under := 2*active >= cfg.MaxTransfers
	if s.pressured.Swap(under) == under && !force {
		return
	}
	timeout, retries := cfg.Timeout, cfg.Retries
	if under {
		timeout, retries = min(timeout, pressureTimeout), min(retries, pressureRetries)
	}
	s.tuning.Lock()
	defer s.tuning.Unlock()
	for _, srv := range s.servers {
		srv.SetTimeout(timeout)
		srv.SetRetries(retries)
	}
}

// configureSockets gives the listening sockets their receive buffer and
// the filter that drops oversized requests; failing to is a warning, not a
// reason not to serve.
func (s *Server) configureSockets(conns []net.PacketConn, size int) {
	for _, c := range conns {
		res, err := configureSocket(c, socketOptions{receiveBuffer: size})
		switch {
		case err != nil:
			s.log.Warn("tftp: cannot configure the listening socket (receive buffer, oversized-request filter)",
				zap.String("listen", c.LocalAddr().String()), zap.Error(err))
		case size > 0 && !res.forced && res.receiveBuffer < size:
			s.log.Warn("tftp receive buffer smaller than configured: without CAP_NET_ADMIN it is capped by net.core.rmem_max",
				zap.String("listen", c.LocalAddr().String()), zap.Int("bytes", res.receiveBuffer), zap.Int("configured", size))
		}
	}
}

// receiveDrops sums the datagrams the kernel dropped on the listening
// sockets (buffer full, or an oversized request).
func (s *Server) receiveDrops() float64 {
	s.tuning.Lock()
	defer s.tuning.Unlock()
	var n uint64
	for _, c := range s.conns {
		if d, err := socketDrops(c); err == nil {
			n += uint64(d)
		}
	}
	return float64(n)
}
