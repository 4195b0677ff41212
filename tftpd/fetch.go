package tftpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/keystore/cms"
)

// Generic error texts: they reach the client, the cause goes to the log.
var (
	errClientNotFound = errors.New("file not found")
	errClientBusy     = errors.New("server busy, try again later")
	errClientWrite    = errors.New("write requests are not accepted")
	errClientServer   = errors.New("server error")
	errClientRepeated = errors.New("repeated request")
)

// fetch is one request and what became of it: the tftp.fetch event.
type fetch struct {
	start       time.Time
	file        string
	remote      netip.AddrPort
	outcome     string
	reason      string
	serial      string
	mac         net.HardwareAddr
	bytes       int64
	blksize     int
	fingerprint string
	cached      bool
	encrypted   bool
	// logged is shared with the copy Server.inflight holds during the
	// transfer: whichever logs first, the handler or a shutdown that
	// stops waiting for it, logs the one event.
	logged *atomic.Bool
	sent   *progress // while the transfer runs
}

// progress counts what pin/tftp has read of a transfer's bytes, and the
// size of its first read, which is the block size it negotiated: for the
// event of a transfer cut short by a stop.
type progress struct {
	r       io.Reader
	n, size atomic.Int64
}

func (p *progress) Read(b []byte) (int, error) {
	p.size.CompareAndSwap(0, int64(len(b)))
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// handleRead serves one read request; pin/tftp runs it on its own
// goroutine and sends a returned error to the client as TFTP error 1.
func (s *Server) handleRead(filename string, rf io.ReaderFrom) error {
	f := &fetch{start: time.Now(), file: filename, remote: remoteOf(rf), logged: new(atomic.Bool)}
	req := f.remote.String() + "\x00" + filename
	if first, done := s.requests.join(req); !first {
		return s.repeated(f, done)
	}
	defer s.requests.leave(req)
	defer s.logFetch(f)
	st := s.set.Load()
	peer := f.remote.Addr().String()
	if ok, why := s.acquire(peer, st.cfg); !ok {
		f.outcome, f.reason = OutcomeBusy, why
		f.serial, _, _ = st.resolver.resolve(f.file) // which device was turned away, for the event
		return errClientBusy
	}
	defer s.release(peer)
	data, err := s.prepare(f, st)
	if err != nil {
		return err
	}
	info := &transferInfo{}
	key := f.remote.String()
	s.blksize.Store(key, info)
	defer s.blksize.Delete(key)
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(int64(len(data)))
	}
	f.sent = &progress{r: bytes.NewReader(data)}
	snapshot := *f
	s.inflight.Store(f, &snapshot)
	defer s.inflight.Delete(f)
	f.bytes, err = rf.ReadFrom(f.sent)
	f.blksize = info.blksize
	f.outcome, f.reason = transferOutcome(err)
	return nil // pin/tftp has already told the client
}

// repeated ends a retransmitted copy of a request in progress once the
// first copy is done (see requests). It is the same fetch attempt, so it
// has no tftp.fetch event of its own.
func (s *Server) repeated(f *fetch, done <-chan struct{}) error {
	s.m.repeated.Inc()
	if ce := s.log.Check(zapcore.DebugLevel, "tftp: retransmitted request"); ce != nil {
		ce.Write(zap.String("file", f.file), zap.Stringer("remote", f.remote), zap.Bool("waits_for_first", done != nil))
	}
	if done != nil {
		<-done
	}
	return errClientRepeated
}

// prepare resolves the request to a serial, applies the binding check and
// the plaintext policy, and returns the bytes to send. On refusal it sets
// the outcome and returns the error the client sees.
func (s *Server) prepare(f *fetch, st *settings) ([]byte, error) {
	serial, fixed, err := st.resolver.resolve(f.file)
	switch {
	case errors.Is(err, errDeniedName):
		f.outcome, f.reason = OutcomeDeniedName, err.Error()
		return nil, errClientNotFound
	case err != nil:
		f.outcome, f.reason = OutcomeNotFound, err.Error()
		return nil, errClientNotFound
	}
	if err := s.checkBinding(f, st, serial, fixed); err != nil {
		return nil, err
	}
	// The warm path (a retry, a retransmission, another device with the
	// same config) needs neither the config's bytes nor the certificate.
	sum, err := s.deps.Configs.Sum(f.serial)
	if err != nil {
		return nil, s.configError(f, err)
	}
	fp, ok := s.deps.Certificates.Fingerprint(f.serial)
	if !ok {
		return s.plaintext(f, st)
	}
	f.fingerprint, f.encrypted = fp, true
	if data, ok := s.cache.get(cacheKey(sum, fp, st)); ok {
		f.cached = true
		return data, nil
	}
	config, sum, err := s.deps.Configs.Config(f.serial)
	if err != nil {
		return nil, s.configError(f, err)
	}
	cert, fp, ok := s.deps.Certificates.Certificate(f.serial)
	if !ok { // removed in between
		return s.plaintext(f, st)
	}
	f.fingerprint = fp
	data, err := cms.Seal(cert, config, st.cfg.Seal)
	if err != nil {
		f.outcome, f.reason = OutcomeError, "seal: "+err.Error()
		return nil, errClientServer
	}
	s.cache.put(cacheKey(sum, fp, st), data)
	return data, nil
}

func cacheKey(sum [32]byte, fp string, st *settings) string {
	return string(sum[:]) + fp + st.sealKey
}

func (s *Server) configError(f *fetch, err error) error {
	f.outcome, f.reason = OutcomeNotFound, err.Error()
	if !errors.Is(err, fs.ErrNotExist) {
		f.reason = "config not servable: " + err.Error()
	}
	return errClientNotFound
}

// plaintext applies the plaintext policy to a serial with no certificate.
func (s *Server) plaintext(f *fetch, st *settings) ([]byte, error) {
	f.encrypted, f.fingerprint = false, ""
	if !st.cfg.AllowPlaintext && !st.plaintext[f.serial] {
		f.outcome, f.reason = OutcomeNoCertificate, "config present but no certificate: not served in the clear"
		return nil, errClientNotFound
	}
	config, _, err := s.deps.Configs.Config(f.serial)
	if err != nil {
		return nil, s.configError(f, err)
	}
	f.reason = "no certificate; plaintext allowed by tftp.allow_plaintext/plaintext_serials"
	return config, nil
}

// checkBinding finds the serial of a fixed name through the DHCP binding of
// the asking address, and checks that a serial's file goes only to the
// address leased to that serial (RFC 8886 section 2.1).
func (s *Server) checkBinding(f *fetch, st *settings, serial string, fixed bool) error {
	var bound string
	var found bool
	if b := s.deps.Bindings; b != nil {
		bound, f.mac, found = b.LookupIP(f.remote.Addr())
	}
	switch {
	case fixed && (!found || bound == ""):
		f.outcome, f.reason = OutcomeNotFound, "fixed name and no DHCP binding with a serial for this address"
		return errClientNotFound
	case fixed:
		f.serial = bound
	case st.cfg.BindingCheck && !found:
		f.serial = serial
		f.outcome, f.reason = OutcomeBindingMismatch, "no DHCP lease for this address"
		return errClientNotFound
	case st.cfg.BindingCheck && bound != serial:
		f.serial = serial
		f.outcome, f.reason = OutcomeBindingMismatch, fmt.Sprintf("address is leased to serial %q", bound)
		return errClientNotFound
	default:
		f.serial = serial
	}
	return nil
}

// handleWrite refuses every write request with one event.
func (s *Server) handleWrite(filename string, wt io.WriterTo) error {
	f := &fetch{start: time.Now(), file: filename, outcome: OutcomeWriteRefused, reason: "read-only server"}
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		f.remote = addrPort(it.RemoteAddr())
	}
	s.logFetch(f)
	return errClientWrite
}

// transferOutcome classifies ReadFrom's result.
func transferOutcome(err error) (outcome, reason string) {
	var ne net.Error
	switch {
	case err == nil:
		return OutcomeServed, ""
	case errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout, "client stopped acknowledging"
	}
	// The text may carry the client's own error message: no NULs or
	// control bytes in the log.
	return OutcomeAborted, strings.Map(func(r rune) rune {
		switch {
		case r == 0:
			return -1
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, err.Error())
}

func remoteOf(rf io.ReaderFrom) netip.AddrPort {
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		return addrPort(ot.RemoteAddr())
	}
	return netip.AddrPort{}
}

func addrPort(a net.UDPAddr) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
}

// logFetch writes the tftp.fetch event: Info when served, Error for a
// server fault, Warn otherwise.
func (s *Server) logFetch(f *fetch) {
	if f.logged != nil && !f.logged.CompareAndSwap(false, true) {
		return
	}
	d := time.Since(f.start)
	s.m.observe(f.outcome, d, f.bytes)
	level := zapcore.WarnLevel
	switch f.outcome {
	case OutcomeServed:
		level = zapcore.InfoLevel
	case OutcomeError:
		level = zapcore.ErrorLevel
	}
	ce := s.log.Check(level, "tftp fetch "+f.outcome)
	if ce == nil {
		return
	}
	mac := ""
	if f.mac != nil {
		mac = f.mac.String()
	}
	ce.Write(
		zap.String("event", "tftp.fetch"), zap.String("outcome", f.outcome),
		zap.String("serial", f.serial), zap.String("file", f.file), zap.String("remote", f.remote.String()),
		zap.String("mac", mac), zap.Int64("bytes", f.bytes), zap.Int("blksize", f.blksize),
		zap.Duration("duration", d), zap.String("fingerprint", f.fingerprint), zap.Bool("cached", f.cached),
		zap.Bool("encrypted", f.encrypted), zap.String("reason", f.reason),
	)
}

// transferInfo receives what pin/tftp's hook knows of a transfer.
type transferInfo struct{ blksize int }

// hook gives the handler the negotiated block size; pin/tftp calls it on
// the transfer's goroutine before ReadFrom returns.
type hook struct{ s *Server }

func (h hook) OnSuccess(st tftp.TransferStats) { h.record(st) }

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.RemoteAddr == nil { // a packet that was not a valid request
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "listen" {
			// Not the packet's fault: no socket for the transfer. A
			// request to a link-local address on a listener without
			// a zone ends here (pin/tftp binds fe80::… without it).
			h.s.log.Warn("tftp: cannot open a socket for a transfer; request dropped (link-local clients are served on a tftp.listen address with its zone, e.g. [fe80::1%eth0]:69)",
				zap.Error(err))
			return
		}
		h.s.m.malformed.Inc()
		if ce := h.s.log.Check(zapcore.DebugLevel, "tftp: bad packet"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return
	}
	h.record(st)
}

func (h hook) record(st tftp.TransferStats) {
	ip, _ := netip.AddrFromSlice(st.RemoteAddr)
	key := netip.AddrPortFrom(ip.Unmap(), uint16(st.Tid)).String()
	v, ok := h.s.blksize.Load(key)
	if !ok {
		return
	}
	info := v.(*transferInfo)
	info.blksize = 512
	if b, err := strconv.Atoi(st.Opts["blksize"]); err == nil {
		info.blksize = b
	}
}
