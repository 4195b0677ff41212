package sztpd

import (
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// request is one request and what became of it: the fields of its
// sztp.request event. The fetch attempt carries the fields every transport
// shares (serial, remote, outcome, reason, bytes, fingerprint, encrypted,
// status); the rest are SZTP's.
type request struct {
	*fetch.Attempt
	rpc      string
	vendor   string
	auth     string
	format   string
	mode     string // unsigned, signed, encrypted, signed+encrypted
	conveyed string // onboarding, redirect
	hwModel  string
	osName   string
	osVer    string
	nonce    bool
	signedOK bool // signed-data-preferred was sent
	logged   bool // the attempt's event is written already (a progress report)
}

func newRequest(remote netip.AddrPort, rpc string) *request {
	return &request{Attempt: fetch.NewAttempt("", remote), rpc: rpc}
}

// logRequest writes the request's sztp.request event: Info when served,
// Error for a server fault, Warn for a refusal. Refusals that come before
// a device is known are rate-limited (a scanner must not flood the log);
// what was held back is counted in the next event's suppressed field.
func (s *Server) logRequest(rec *request) {
	d := time.Since(rec.Start)
	if rec.logged {
		s.m.requests.WithLabelValues(rec.rpc, rec.Outcome).Inc()
		s.m.duration.WithLabelValues(rec.rpc).Observe(d.Seconds())
		return
	}
	s.m.requests.WithLabelValues(rec.rpc, rec.Outcome).Inc()
	s.m.duration.WithLabelValues(rec.rpc).Observe(d.Seconds())
	level := zapcore.WarnLevel
	switch rec.Outcome {
	case fetch.OutcomeServed:
		level = zapcore.InfoLevel
	case fetch.OutcomeError:
		level = zapcore.ErrorLevel
	}
	var suppressed int
	if preAuth(rec.Outcome) {
		ok, n := s.limit.allow(rec.Outcome, time.Now())
		if !ok {
			s.m.suppressed.Inc()
			return
		}
		suppressed = n
	}
	ce := s.log.Check(level, "sztp request "+rec.Outcome)
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("event", "sztp.request"), zap.String("outcome", rec.Outcome), zap.String("rpc", rec.rpc),
		zap.String("serial", rec.Serial), zap.String("remote", rec.Remote.String()), zap.Int("status", rec.Status),
		zap.Int64("bytes", rec.Bytes), zap.Duration("duration", d), zap.String("fingerprint", rec.Fingerprint),
		zap.String("auth", rec.auth), zap.String("vendor", rec.vendor), zap.String("format", rec.format),
		zap.String("mode", rec.mode), zap.String("conveyed", rec.conveyed), zap.Bool("encrypted", rec.Encrypted),
		zap.Bool("signed_data_preferred", rec.signedOK), zap.Bool("nonce", rec.nonce),
		zap.String("hw_model", rec.hwModel), zap.String("os_name", rec.osName), zap.String("os_version", rec.osVer),
		zap.String("reason", rec.Reason),
	}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	ce.Write(fields...)
}

// preAuth reports outcomes that anyone can cause without credentials.
func preAuth(outcome string) bool {
	switch outcome {
	case OutcomeUnauthenticated, OutcomeUntrusted, OutcomeBadPassword, OutcomeBadRequest, fetch.OutcomeBusy:
		return true
	}
	return false
}

// limiter is a token bucket per outcome: burst events at once, then rate
// a second.
type limiter struct {
	mu         sync.Mutex
	rate       float64
	burst      float64
	buckets    map[string]*bucket
	suppressed map[string]int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}, suppressed: map[string]int{}}
}

// allow takes a token for key; when it may log, it also returns how many
// were held back since the last one.
func (l *limiter) allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		l.suppressed[key]++
		return false, 0
	}
	b.tokens--
	n := l.suppressed[key]
	l.suppressed[key] = 0
	return true, n
}

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	progress   *prometheus.CounterVec
	served     *prometheus.CounterVec
	suppressed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_sztp_requests_total", Help: "SZTP RPC requests by RPC and outcome.",
		}, []string{"rpc", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealboot_sztp_request_duration_seconds", Help: "Time to answer an SZTP request, by RPC.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"rpc"}),
		progress: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_sztp_progress_reports_total", Help: "SZTP progress reports accepted, by progress type.",
		}, []string{"progress_type"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_sztp_conveyed_total", Help: "Conveyed information served, by kind and security mode.",
		}, []string{"conveyed", "mode"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_sztp_events_suppressed_total", Help: "sztp.request refusal events held back by the rate limit.",
		}),
	}
	for _, rpc := range []string{rpcGet, rpcReport} {
		for _, o := range Outcomes() {
			m.requests.WithLabelValues(rpc, o)
		}
		m.duration.WithLabelValues(rpc)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.progress, m.served, m.suppressed)
	}
	return m
}
