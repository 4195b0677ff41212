package sztpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// Server is the SZTP bootstrap server.
type Server struct {
	deps  Deps
	log   *zap.Logger
	m     *metrics
	set   atomic.Pointer[settings]
	slots chan struct{}
	clock func() time.Time // nil: time.Now

	// inFlight counts each device's requests in progress (maxPerDevice).
	inFlight fetch.Held[string]

	ready   chan struct{}
	mu      sync.Mutex
	addrs   []net.Addr
	started bool
	// ShutdownTimeout bounds the wait for requests in flight when Run
	// stops.
	ShutdownTimeout time.Duration
}

// New checks cfg, reads its files and returns the server.
func New(cfg Config, deps Deps, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	if deps.Configs == nil || deps.Certificates == nil || deps.Anchors == nil {
		return nil, errors.New("sztp: configs, certificates and trust anchors are required")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("sztp.listen: no address")
	}
	st, err := load(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{deps: deps, log: log, m: newMetrics(reg),
		slots: make(chan struct{}, st.cfg.MaxRequests), ready: make(chan struct{}), ShutdownTimeout: 5 * time.Second}
	s.set.Store(st)
	return s, nil
}

// CheckFiles reads the files cfg names (certificates, keys, scripts,
// password file) and reports what is wrong, without a server: for
// sealboot check.
func CheckFiles(cfg Config) error {
	_, err := load(cfg)
	return err
}

// Check reports what would make Update refuse cfg.
func (s *Server) Check(cfg Config) error {
	_, err := load(cfg)
	return err
}

// Update applies a new configuration (SIGHUP): files are read again.
// Listen, MaxRequests and RequestTimeout keep their running values.
func (s *Server) Update(cfg Config) error {
	st, err := load(cfg)
	if err != nil {
		return err
	}
	s.set.Store(st)
	return nil
}

// Ready is closed once every listener is up.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs are the addresses listened on, once Ready.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// tlsConfig asks for a client certificate but verifies it itself (against
// the trust anchors of the moment, with an HTTP status and an event when
// it fails, rather than a bare TLS alert). TLS 1.2 is the floor: IOS-XE
// 17 speaks it with RSA PKCS#1 v1.5 signatures, which Go offers.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.set.Load().tlsCert, nil
		},
	}
}

// Run listens on every address and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	st := s.set.Load()
	var lns []net.Listener
	for _, a := range st.cfg.Listen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("listen tcp %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.tlsConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       st.cfg.RequestTimeout,
		WriteTimeout:      st.cfg.RequestTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// HTTP/1.1 only: over HTTP/2 each stream of a connection has its
		// chain verified, and a refusal's Connection: close would leave
		// the streams already open running.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// A failed TLS handshake is a per-connection line: debug only.
		ErrorLog: zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.DebugLevel))),
	}
	s.mu.Lock()
	for _, ln := range lns {
		s.addrs = append(s.addrs, ln.Addr())
	}
	s.mu.Unlock()
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	}
	close(s.ready)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			srv.Close()
			return fmt.Errorf("serve: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}

// ServeHTTP routes RESTCONF root discovery and the two RPCs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == pathHostMeta {
		hostMeta(w, r)
		return
	}
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	rpc, ok := strings.CutPrefix(r.URL.Path, pathOperations+rpcPrefix)
	if !ok || (rpc != rpcGet && rpc != rpcReport) {
		// Not an RPC of this server: no event (scanners), a RESTCONF error.
		s.log.Debug("sztp: unknown resource", zap.String("path", fetch.ClientText(clip(r.URL.Path, 128))), zap.Stringer("remote", remote))
		writeError(w, sztp.JSON, restconfError{status: http.StatusNotFound, typ: typeProtocol, tag: tagInvalidValue, message: "no such resource"})
		return
	}
	rec := newRequest(remote, rpc)
	defer s.logRequest(rec)
	st := s.set.Load()
	reqFmt, respFmt, rerr := negotiate(r)
	rec.format = respFmt.String()
	if rerr != nil {
		s.refuse(w, rec, respFmt, OutcomeBadRequest, rerr.message, *rerr)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		// The HTTP server's capacity, before the RPC is looked at: 503
		// with Retry-After (RFC 9110 section 15.6.4), resource-denied at
		// the transport layer (RFC 6241 appendix A allows it there).
		w.Header().Set("Retry-After", "5")
		s.refuse(w, rec, respFmt, fetch.OutcomeBusy, "sztp.max_requests requests in progress",
			restconfError{status: http.StatusServiceUnavailable, typ: typeTransport, tag: tagResourceDenied, message: "server busy, try again later"})
		return
	}
	dev, aerr := s.authenticate(r, st, rec)
	if aerr != nil {
		if aerr.outcome == OutcomeUntrusted {
			// The chain is verified again at each request: a client
			// whose certificate is refused tries again on a new
			// connection, with a handshake of its own.
			w.Header().Set("Connection", "close")
		}
		s.refuse(w, rec, respFmt, aerr.outcome, aerr.reason, restconfError{status: authStatus(w, st, aerr), typ: typeProtocol, tag: tagAccessDenied, message: "access denied"})
		return
	}
	rec.auth = dev.auth
	if _, ok := s.inFlight.Take(dev.serial, maxPerDevice); !ok {
		w.Header().Set("Retry-After", "5")
		s.refuse(w, rec, respFmt, fetch.OutcomeBusy, fmt.Sprintf("%d requests of this device in progress", maxPerDevice),
			restconfError{status: http.StatusServiceUnavailable, typ: typeTransport, tag: tagResourceDenied, message: "server busy, try again later"})
		return
	}
	defer s.inFlight.Put(dev.serial)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, st.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, rec, respFmt, OutcomeBadRequest, fmt.Sprintf("body over sztp.max_body (%d bytes)", st.cfg.MaxBody),
				restconfError{status: http.StatusRequestEntityTooLarge, typ: typeTransport, tag: tagTooBig, message: "request body too large"})
			return
		}
		s.refuse(w, rec, respFmt, OutcomeBadRequest, "reading the body: "+err.Error(),
			restconfError{status: http.StatusBadRequest, typ: typeRPC, tag: tagMalformed, message: "the body could not be read"})
		return
	}
	if rpc == rpcGet {
		s.getBootstrappingData(w, st, dev, rec, body, reqFmt, respFmt, localAddr(r))
		return
	}
	s.reportProgress(w, dev, rec, body, reqFmt, respFmt)
}

// maxPerDevice bounds one device's requests in progress: a device sends
// one at a time, and one whose key is in other hands, sending bodies
// slowly, would otherwise hold every sztp.max_requests slot for up to
// request_timeout each.
const maxPerDevice = 4

// authStatus is the status of an authentication refusal, access-denied
// either way (RFC 8040 section 7: 401 or 403). An unauthenticated client
// gets 401 (RFC 8040 section 2.5), which must carry a challenge (RFC 7235
// section 3.1): with sztp.basic_auth set it is Basic's; with client
// certificates only there is no HTTP scheme to offer, so 403. A device
// that authenticated but is not the one the keystore pins is 403 (RFC
// 8040 section 4.4.2: not authorized to invoke the operation).
func authStatus(w http.ResponseWriter, st *settings, aerr *authError) int {
	if aerr.status != http.StatusUnauthorized {
		return aerr.status
	}
	if st.passwords == nil {
		return http.StatusForbidden
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="sztp"`)
	return http.StatusUnauthorized
}

// negotiate checks the method and the media types.
func negotiate(r *http.Request) (req, resp sztp.Format, err *restconfError) {
	req, okReq := requestFormat(r)
	resp, okResp := responseFormat(r, req)
	switch {
	case r.Method != http.MethodPost:
		return req, resp, &restconfError{status: http.StatusMethodNotAllowed, typ: typeProtocol, tag: tagNotSupported, message: "an RPC is invoked with POST"}
	case !okReq:
		return req, resp, &restconfError{status: http.StatusUnsupportedMediaType, typ: typeProtocol, tag: tagInvalidValue, message: "Content-Type is not application/yang-data+json or +xml"}
	case !okResp:
		return req, sztp.JSON, &restconfError{status: http.StatusNotAcceptable, typ: typeProtocol, tag: tagInvalidValue, message: "Accept names neither application/yang-data+json nor +xml"}
	}
	return req, resp, nil
}

// refuse answers an RFC 8040 error and records the outcome; the reason
// goes to the event only.
func (s *Server) refuse(w http.ResponseWriter, rec *request, f sztp.Format, outcome, reason string, e restconfError) {
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	rec.Refuse(outcome, reason)
	rec.Status = e.status
	rec.Bytes = int64(writeError(w, f, e))
}

// localAddr is the address the device reached us on.
func localAddr(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}
