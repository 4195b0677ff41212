package fetch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Transport is one way devices fetch configs (tftp, http): the core, seen
// by that transport, with its own logger, event name and metrics.
type Transport struct {
	*Core
	name  string // "tftp", "http"
	event string // "<name>.fetch"
	log   *zap.Logger
	// imageLog, when set, writes the events of image attempts (HTTP)
	// beyond each address's budget of served ones (images).
	imageLog *zap.Logger
	images   *addrBudget
	m        *transportMetrics
}

// Transport returns the core as transport name uses it: events
// "<name>.fetch" on log, metrics sealboot_<name>_* on reg (nil: none).
func (c *Core) Transport(name string, log *zap.Logger, reg prometheus.Registerer) *Transport {
	return &Transport{Core: c, name: name, event: name + ".fetch", log: log, m: newTransportMetrics(name, reg)}
}

// LogImagesTo writes the events of image attempts to log rather than the
// transport's logger, before the transport is used, except each client
// address's first few served ones in a window (see addrBudget): any
// address may fetch an image (no binding check, and a HEAD or a 304 costs
// a client nothing), so sealboot serve rate-limits them, served ones
// included, while a served config's event is always written.
func (t *Transport) LogImagesTo(log *zap.Logger) { t.imageLog, t.images = log, newAddrBudget() }

// Name is the transport's name.
func (t *Transport) Name() string { return t.name }

// Finish writes the attempt's event, once: Info when served, Error for a
// server fault, Warn otherwise. Later calls for the same attempt (or a
// copy of it) do nothing.
func (t *Transport) Finish(a *Attempt) {
	if a.logged != nil && !a.logged.CompareAndSwap(false, true) {
		return
	}
	d := time.Since(a.Start)
	configBytes := a.Bytes
	if a.Image { // the transport counts those itself
		configBytes = 0
	}
	t.m.observe(a.Outcome, d, configBytes)
	level := zapcore.WarnLevel
	switch a.Outcome {
	case OutcomeServed:
		level = zapcore.InfoLevel
	case OutcomeError:
		level = zapcore.ErrorLevel
	}
	log := t.log
	if a.Image && t.imageLog != nil && (a.Outcome != OutcomeServed || !t.images.take(a.Remote.Addr())) {
		log = t.imageLog
	}
	ce := log.Check(level, t.name+" fetch "+a.Outcome)
	if ce == nil {
		return
	}
	ce.Write(t.fields(a, d)...)
}

// fields are the event's fields: the same for every transport, plus what
// only this transport has.
func (t *Transport) fields(a *Attempt, d time.Duration) []zap.Field {
	mac := ""
	if a.MAC != nil {
		mac = a.MAC.String()
	}
	f := make([]zap.Field, 0, 16)
	f = append(f,
		zap.String("event", t.event), zap.String("outcome", a.Outcome),
		zap.String("serial", a.Serial), zap.String("file", logText(a.File)), zap.String("remote", a.Remote.String()),
		zap.String("mac", mac), zap.Int64("bytes", a.Bytes),
	)
	switch t.name {
	case "tftp":
		f = append(f, zap.Int("blksize", a.Blksize))
	case "http":
		f = append(f, zap.Int("status", a.Status), zap.String("range", logText(a.Range)), zap.Bool("image", a.Image))
	}
	return append(f,
		zap.Duration("duration", d), zap.String("fingerprint", a.Fingerprint), zap.Bool("cached", a.Cached),
		zap.Bool("encrypted", a.Encrypted), zap.String("reason", a.Reason),
	)
}

type transportMetrics struct {
	fetches  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    prometheus.Counter
}

func newTransportMetrics(name string, reg prometheus.Registerer) *transportMetrics {
	upper := map[string]string{"tftp": "TFTP", "http": "HTTP"}[name]
	if upper == "" {
		upper = name
	}
	m := &transportMetrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_" + name + "_fetches_total", Help: upper + " requests by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealboot_" + name + "_fetch_duration_seconds", Help: "Time from an " + upper + " request to the end of its transfer or refusal, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_" + name + "_sent_bytes_total", Help: "Bytes of configs sent over " + upper + ".",
		}),
	}
	for _, o := range Outcomes { // every series from the start, at zero
		m.fetches.WithLabelValues(o)
		m.duration.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.fetches, m.duration, m.bytes)
	}
	return m
}

func (m *transportMetrics) observe(outcome string, d time.Duration, bytes int64) {
	m.fetches.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
	m.bytes.Add(float64(bytes))
}
