package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Server is the HTTP server.
type Server struct {
	fetch  Fetcher
	images Images // nil: no images are served
	log    *zap.Logger
	m      *metrics
	cfg    atomic.Pointer[Config]
	start  Config // what the listeners and the connection timeouts were built from
	cert   atomic.Pointer[tls.Certificate]
	tlsCfg *tls.Config // nil: plain HTTP
	ready  chan struct{}

	addrsMu  sync.Mutex
	addrs    []net.Addr
	slots    slots
	peers    fetch.Held[netip.Addr] // open connections by client address
	stopping atomic.Bool
}

// New returns a server for what f prepares and the images in imgs (nil:
// none); Run starts it. With TLS configured, the key pair must load.
func New(cfg Config, f Fetcher, imgs Images, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if f == nil {
		return nil, errors.New("httpd: a fetcher is required")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("httpd: no listen address")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("httpd: TLS needs both a certificate and a key")
	}
	cfg = cfg.withDefaults()
	s := &Server{fetch: f, images: imgs, log: log, start: cfg, ready: make(chan struct{})}
	if err := s.loadCert(cfg); err != nil {
		return nil, err
	}
	if cfg.TLSCert != "" {
		s.tlsCfg = s.tlsConfig()
	}
	s.m = newMetrics(reg, &s.slots)
	s.cfg.Store(&cfg)
	return s, nil
}

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.start.TLSCert != "" }

// Check reports what would make Update fail: a TLS key pair that does not
// load.
func (s *Server) Check(cfg Config) error {
	if !s.TLS() || cfg.TLSCert == "" {
		return nil
	}
	_, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("http.tls_cert/http.tls_key: %w", err)
	}
	return nil
}

// Update applies a new configuration's limits, rate and Retry-After at
// once (SIGHUP), and loads the TLS key pair again (a renewed certificate).
// Listen addresses, TLS on or off, and the header and idle timeouts change
// only on restart. A key pair that does not load keeps the running one.
func (s *Server) Update(cfg Config) error {
	cfg = cfg.withDefaults()
	cfg.Listen, cfg.HeaderTimeout, cfg.IdleTimeout, cfg.MaxHeaderBytes = s.start.Listen, s.start.HeaderTimeout, s.start.IdleTimeout, s.start.MaxHeaderBytes
	var err error
	if s.TLS() && cfg.TLSCert != "" {
		err = s.loadCert(cfg)
	}
	s.cfg.Store(&cfg)
	return err
}

func (s *Server) loadCert(cfg Config) error {
	if cfg.TLSCert == "" {
		return nil
	}
	c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("http.tls_cert/http.tls_key: %w (the running certificate stays)", err)
	}
	s.cert.Store(&c)
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
// most ShutdownTimeout for requests in progress; those still running are
// cut and logged as aborted.
func (s *Server) Run(ctx context.Context) error {
	cfg := s.start
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, addr := range cfg.Listen {
		ln, err := s.listen(ctx, addr)
		if err != nil {
			return err // "listen tcp 192.0.2.1:80: bind: address already in use"
		}
		lns = append(lns, ln)
	}
	srv := s.httpServer(cfg)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(&listener{Listener: ln, s: s}) }()
		s.addrsMu.Lock()
		s.addrs = append(s.addrs, ln.Addr())
		s.addrsMu.Unlock()
		s.log.Info("http listening", zap.String("listen", ln.Addr().String()), zap.Bool("tls", s.TLS()))
	}
	close(s.ready)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	s.shutdown(srv, cfg.ShutdownTimeout)
	return err
}

// httpServer is net/http's server with our handler, timeouts and limits.
// HTTP/2 is off: devices speak HTTP/1.1, and sendfile needs it.
func (s *Server) httpServer(cfg Config) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	// net/http's own complaints (accept errors, a panic): rare, and bounded
	// by its accept back-off.
	errLog, _ := zap.NewStdLogAt(s.log, zapcore.WarnLevel)
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		Protocols:         &protos,
		ConnContext:       connContext,
		ConnState:         connState,
		// OPTIONS * is a method like any other here: refused.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     errLog,
	}
}

// shutdown stops accepting, lets requests in progress finish for up to
// timeout, then closes every connection and waits for the handlers to log
// their events (a closed connection ends their writes at once).
func (s *Server) shutdown(srv *http.Server, timeout time.Duration) {
	s.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		s.log.Warn("http requests still running at shutdown; cutting them",
			zap.Int("requests", s.slots.active()), zap.Duration("waited", timeout))
	}
	_ = srv.Close()
	select {
	case <-s.slots.drained():
	case <-time.After(timeout):
	}
}

// listen binds addr. An IPv6 address of this host that is still tentative
// (duplicate address detection; no carrier yet) is bound anyway
// (IPV6_FREEBIND) and serves once usable, as TFTP does.
//
// TCP keep-alive probes are off (KeepAlive -1): the idle timeout closes a
// kept-alive connection, the write deadlines one whose reader is gone, and
// the probes' socket options would cost four system calls a connection.
func (s *Server) listen(ctx context.Context, addr string) (net.Listener, error) {
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, network(addr), addr)
	if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return ln, err
	}
	ta, rerr := net.ResolveTCPAddr(network(addr), addr)
	if rerr != nil || ta.IP.To4() != nil || !hostHas(ta.IP) {
		return nil, fmt.Errorf("%w (no interface of this host has that address)", err)
	}
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, ferr := lc.Listen(ctx, network(addr), addr)
	if ferr != nil {
		return nil, err
	}
	s.log.Warn("http: address not usable yet (tentative: duplicate address detection, or the link has no carrier); listening on it, served once it is",
		zap.String("listen", addr))
	return ln, nil
}

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

// network picks tcp4 for an IPv4 literal, tcp6 for an IPv6 literal (so
// "[::]:80" is IPv6 only), and dual-stack tcp otherwise (":80").
func network(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "tcp"
	}
	if ip := net.ParseIP(strings.Trim(strings.SplitN(host, "%", 2)[0], "[]")); ip != nil {
		if ip.To4() != nil {
			return "tcp4"
		}
		return "tcp6"
	}
	return "tcp"
}
