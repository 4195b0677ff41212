package tftpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Generic error texts: they reach the client, the cause goes to the log.
var (
	errClientNotFound = errors.New("file not found")
	errClientBusy     = errors.New("server busy, try again later")
	errClientWrite    = errors.New("write requests are not accepted")
	errClientServer   = errors.New("server error")
	errClientRepeated = errors.New("repeated request")
)

// transfer is one request being served: its attempt, and what the
// transfer has sent so far while it runs.
type transfer struct {
	*fetch.Attempt
	sent *progress
}

// progress counts what pin/tftp has read of a transfer's bytes, and the
// size of its first read, which is the block size it negotiated: for the
// event of a transfer cut short by a stop. It also holds the transfer to
// its pace: pin/tftp asks for each block once the client has acknowledged
// the one before, so a client that acknowledges slowly (just inside the
// retransmission timeout) is seen here and cut off (see pace).
type progress struct {
	r       io.Reader
	pace    pace
	start   time.Time
	n, size atomic.Int64
}

func (p *progress) Read(b []byte) (int, error) {
	if err := p.pace.check(time.Since(p.start), p.n.Load()); err != nil {
		return 0, err
	}
	p.size.CompareAndSwap(0, int64(len(b)))
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// pace bounds how long a transfer may hold its slot: at most maxTime in
// all, and once grace has passed, at least minRate bytes a second on
// average. Zero values turn either off.
type pace struct {
	minRate int64 // bytes per second
	grace   time.Duration
	maxTime time.Duration
}

// errTooSlow ends a transfer that fell behind its pace. Its text reaches
// the client in pin/tftp's error packet.
var errTooSlow = errors.New("transfer too slow")

// slowError says which bound a transfer broke, for the event.
type slowError struct{ reason string }

func (e *slowError) Error() string        { return errTooSlow.Error() }
func (e *slowError) Is(target error) bool { return target == errTooSlow }

func (p pace) check(elapsed time.Duration, sent int64) error {
	if p.maxTime > 0 && elapsed > p.maxTime {
		return &slowError{fmt.Sprintf("transfer took longer than tftp.max_transfer_time (%s; %d bytes sent)", p.maxTime, sent)}
	}
	if p.minRate > 0 && elapsed > p.grace && float64(sent) < float64(p.minRate)*elapsed.Seconds() {
		return &slowError{fmt.Sprintf("client acknowledged slower than tftp.min_rate (%d bytes in %.1fs, under %d bytes/s)",
			sent, elapsed.Seconds(), p.minRate)}
	}
	return nil
}

// handleRead serves one read request; pin/tftp runs it on its own
// goroutine and sends a returned error to the client as TFTP error 1.
func (s *Server) handleRead(filename string, rf io.ReaderFrom) error {
	a := fetch.NewAttempt(filename, remoteOf(rf))
	req := a.Remote.String() + "\x00" + filename
	if first, done := s.requests.join(req); !first {
		return s.repeated(a, done)
	}
	defer s.requests.leave(req)
	defer s.fetch.Finish(a)
	cfg := s.cfg.Load()
	peer := a.Remote.Addr().String()
	if ok, why := s.acquire(peer, cfg); !ok {
		a.Refuse(fetch.OutcomeBusy, why)
		s.fetch.Resolve(a) // which device was turned away, for the event
		return errClientBusy
	}
	defer s.release(peer)
	if rq, err := requestOf(rf); err == nil {
		if mode := rq.normalize(); !validMode(mode) {
			a.Refuse(fetch.OutcomeNotFound, fmt.Sprintf("transfer mode %q: only octet and netascii are served", fetch.ClientText(mode)))
			s.fetch.Resolve(a)
			return errClientNotFound
		}
	}
	data, err := s.fetch.Prepare(a)
	if err != nil {
		return clientError(err)
	}
	info := &transferInfo{}
	key := a.Remote.String()
	s.blksize.Store(key, info)
	defer s.blksize.Delete(key)
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(int64(len(data)))
	}
	t := &transfer{Attempt: a, sent: &progress{r: bytes.NewReader(data), pace: cfg.pace(), start: time.Now()}}
	snapshot := *a
	s.inflight.Store(t, &transfer{Attempt: &snapshot, sent: t.sent})
	defer s.inflight.Delete(t)
	a.Bytes, err = rf.ReadFrom(t.sent)
	a.Blksize = info.blksize
	a.Outcome, a.Reason = transferOutcome(err)
	return nil // pin/tftp has already told the client
}

// clientError is the text a refusal sends: generic, the cause is in the
// event.
func clientError(err error) error {
	if errors.Is(err, fetch.ErrServer) {
		return errClientServer
	}
	return errClientNotFound
}

// repeated ends a retransmitted copy of a request in progress once the
// first copy is done (see requests). It is the same fetch attempt, so it
// has no tftp.fetch event of its own.
func (s *Server) repeated(a *fetch.Attempt, done <-chan struct{}) error {
	s.m.repeated.Inc()
	if ce := s.log.Check(zapcore.DebugLevel, "tftp: retransmitted request"); ce != nil {
		ce.Write(zap.String("file", a.File), zap.Stringer("remote", a.Remote), zap.Bool("waits_for_first", done != nil))
	}
	if done != nil {
		<-done
	}
	return errClientRepeated
}

// handleWrite refuses every write request with one event.
func (s *Server) handleWrite(filename string, wt io.WriterTo) error {
	var remote netip.AddrPort
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		remote = addrPort(it.RemoteAddr())
	}
	a := fetch.NewAttempt(filename, remote)
	a.Refuse(fetch.OutcomeWriteRefused, "read-only server")
	s.fetch.Finish(a)
	return errClientWrite
}

// transferOutcome classifies ReadFrom's result.
func transferOutcome(err error) (outcome, reason string) {
	var ne net.Error
	var slow *slowError
	switch {
	case err == nil:
		return fetch.OutcomeServed, ""
	case errors.As(err, &slow):
		return fetch.OutcomeTimeout, slow.reason
	case errors.As(err, &ne) && ne.Timeout():
		return fetch.OutcomeTimeout, "client stopped acknowledging"
	}
	// The text may carry the client's own error message.
	return fetch.OutcomeAborted, fetch.ClientText(err.Error())
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
