package sztpd

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztp"
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
// Error for a server fault, Warn for a refusal. The logger main gives the
// server rate-limits all but Info lines, per message (so per outcome): a
// scanner cannot flood the log.
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
	ce.Write(fields...)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	progress *prometheus.CounterVec
	served   *prometheus.CounterVec
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
	}
	for _, rpc := range []string{rpcGet, rpcReport} {
		for _, o := range Outcomes() {
			m.requests.WithLabelValues(rpc, o)
		}
		m.duration.WithLabelValues(rpc)
	}
	for _, pt := range sztp.ProgressTypes() {
		m.progress.WithLabelValues(pt)
	}
	for _, conveyed := range []string{"redirect", "onboarding"} {
		for _, sign := range []bool{false, true} {
			for _, encrypt := range []bool{false, true} {
				m.served.WithLabelValues(conveyed, modeName(sign, encrypt))
			}
		}
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.progress, m.served)
	}
	return m
}
