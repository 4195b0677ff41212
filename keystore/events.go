package keystore

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

type metrics struct {
	certs  prometheus.Gauge
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		certs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_keystore_certificates", Help: "Usable device certificates in the keystore.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_keystore_events_total", Help: "Certificate changes by state (added, replaced, removed, refused, invalid, duplicate).",
		}, []string{"state"}),
	}
	for _, st := range []string{"added", "replaced", "removed", "refused", "invalid", "duplicate"} {
		m.events.WithLabelValues(st) // every series from the start, at zero
	}
	if reg != nil {
		reg.MustRegister(m.certs, m.events)
	}
	return m
}

// swap installs a scan's result and logs one certificate.state event per
// change: added, replaced, removed, and each new problem with a file.
func (s *Store) swap(files map[string]*fileRec, res resolution) {
	next := make(map[string]*record, len(res.chosen))
	for serial, f := range res.chosen {
		next[serial] = &record{
			entry: Entry{Serial: serial, KeyType: f.keyType, Fingerprint: f.fp.String(), File: f.name},
			fp:    f.fp, file: f,
		}
	}
	s.mu.Lock()
	first := !s.scanned
	s.scanned = true
	s.generation++
	prev, prevProblems := s.serial, s.problems
	s.serial, s.files = next, files
	s.problems = res.problems
	s.mu.Unlock()
	s.metrics.certs.Set(float64(len(next)))
	if first { // one line for the whole directory, then one per problem
		s.log.Info("keys directory scanned", zap.String("dir", s.opts.Dir), zap.Int("certificates", len(next)), zap.Int("problems", len(res.problems)))
		for name, p := range res.problems {
			s.problemEvent(name, p)
		}
		return
	}

	var changed []string
	for serial, r := range next {
		old, ok := prev[serial]
		switch {
		case !ok:
			s.event("added", r.entry, "", nil)
		case old.fp != r.fp || old.entry.File != r.entry.File:
			s.event("replaced", r.entry, "", nil)
		default:
			continue
		}
		changed = append(changed, serial)
	}
	for serial, r := range prev {
		if _, ok := next[serial]; !ok {
			s.event("removed", r.entry, "", nil)
			changed = append(changed, serial)
		}
	}
	for name, p := range res.problems {
		if old, ok := prevProblems[name]; !ok || old != p {
			s.problemEvent(name, p)
		}
	}
	if s.opts.OnChange != nil {
		for _, serial := range changed {
			s.opts.OnChange(serial)
		}
	}
}

func (s *Store) event(state string, e Entry, reason string, extra []zap.Field) {
	s.metrics.events.WithLabelValues(state).Inc()
	fields := append([]zap.Field{
		zap.String("event", "certificate.state"), zap.String("state", state),
		zap.String("serial", e.Serial), zap.String("file", e.File),
		zap.String("key_type", e.KeyType), zap.String("fingerprint", e.Fingerprint),
	}, extra...)
	if reason != "" {
		fields = append(fields, zap.String("reason", reason))
	}
	if state == "added" || state == "replaced" || state == "removed" {
		s.log.Info("certificate "+state, fields...)
		return
	}
	s.log.Warn("certificate "+state, fields...)
}

func (s *Store) problemEvent(file string, p problem) {
	var extra []zap.Field
	if p.pinned != (Fingerprint{}) {
		extra = append(extra, zap.String("pinned_fingerprint", p.pinned.String()))
	}
	fp := ""
	if p.fp != (Fingerprint{}) {
		fp = p.fp.String()
	}
	s.event(p.state, Entry{Serial: p.serial, File: file, Fingerprint: fp}, p.reason, extra)
}
