package configdir

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/watchdir"
)

// Run watches the directory until ctx is done. A changed file is taken
// once it has been left alone for the settle delay.
func (d *Dir) Run(ctx context.Context) error {
	events, err := watchdir.Watch(ctx, d.cfg.Dir, "configs directory", d.log)
	if err != nil {
		return err
	}
	// New's scan is served already: ready now, then catch up with changes
	// made between that scan and the watch.
	close(d.ready)
	pending := map[string]time.Time{}
	if err := d.rescanInto(pending); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.arm(timer, pending)
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Rescan { // the directory was replaced, or events were lost
				if err := d.rescanInto(pending); err != nil {
					d.log.Error("configs directory rescan failed", zap.Error(err))
				}
			} else if !ignored(ev.Name) {
				pending[ev.Name] = time.Now().Add(d.cfg.Settle)
			}
		case name := <-d.recheck:
			// A device asking again while the file settles must not put
			// the deadline back, or a device that retries faster than
			// the settle delay is never served the new version.
			if _, ok := pending[name]; !ok {
				pending[name] = time.Now().Add(d.cfg.Settle)
			}
		case <-timer.C:
			d.checkDue(pending)
		}
	}
}

// arm sets timer to the earliest pending deadline.
func (d *Dir) arm(timer *time.Timer, pending map[string]time.Time) {
	var next time.Time
	for _, t := range pending {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(time.Until(next))
}

// checkDue examines the files whose settle delay has passed, those gone
// first: a plaintext config replaced by its sealed version in one deploy
// is never seen beside it (ambiguous) on the way.
func (d *Dir) checkDue(pending map[string]time.Time) {
	now := time.Now()
	var due []string
	for name, t := range pending {
		if !t.After(now) {
			due = append(due, name)
			delete(pending, name)
		}
	}
	for _, name := range d.goneFirst(due) {
		if again := d.check(name); again {
			pending[name] = now.Add(d.cfg.Settle)
		}
	}
}

// goneFirst orders names so that those no longer in the directory come
// first.
func (d *Dir) goneFirst(names []string) []string {
	rd := d.dir.Load()
	out := make([]string, 0, len(names))
	var present []string
	for _, n := range names {
		if _, err := rd.Lstat(n); errors.Is(err, fs.ErrNotExist) {
			out = append(out, n)
		} else {
			present = append(present, n)
		}
	}
	return append(out, present...)
}

// Rescan compares the whole directory with what is known (SIGHUP). Files
// that changed are checked at once if they have settled.
func (d *Dir) Rescan() error {
	pending := map[string]time.Time{}
	if err := d.rescanInto(pending); err != nil {
		return err
	}
	for name := range pending {
		select {
		case d.recheck <- name:
		default: // Run is busy: the watch's own events cover these files
		}
	}
	return nil
}

func (d *Dir) rescanInto(pending map[string]time.Time) error {
	if err := d.reopen(); err != nil {
		return err
	}
	names, err := d.list()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	d.mu.RLock()
	var gone []string
	for _, e := range d.bySerial {
		if !seen[e.name] {
			gone = append(gone, e.name)
		}
	}
	d.mu.RUnlock()
	// Removals first: a release that swaps plaintext configs for sealed
	// ones never shows both for a serial (ambiguous) on the way.
	for _, n := range gone {
		d.check(n)
	}
	for _, n := range names {
		if d.check(n) {
			pending[n] = time.Now().Add(d.cfg.Settle)
		}
	}
	return nil
}

// check re-examines one file and logs its new state if it changed. It
// returns true when the file changed too recently and must be checked
// again after the settle delay.
func (d *Dir) check(name string) (again bool) {
	e, fresh := d.inspect(name, time.Now().Add(-d.cfg.Settle))
	if fresh {
		return true
	}
	key, serial, _, _, ok := d.keyOf(name) // the key in bySerial
	if !ok {
		return false
	}
	var state, reason string
	if e != nil {
		state, reason = d.state(e) // outside the lock: asks the keystore
	}
	d.mu.Lock()
	old, had := d.bySerial[key]
	switch {
	case e == nil && had && old.name == name:
		delete(d.bySerial, key)
		d.count(old, "", "")
	case e != nil && (!had || !old.same(e)):
		d.bySerial[key] = e
		if had {
			d.count(old, "", "")
		}
		d.count(e, state, reason)
	default:
		d.mu.Unlock()
		return false
	}
	d.mu.Unlock()
	if e == nil {
		d.event(StateRemoved, "", old)
	} else {
		if state == StateWaitingForCert {
			// Ask again now that the file is known: the keystore may
			// fetch a missing certificate on demand, and a fetch that
			// began on the first ask, before the file was recorded, found
			// no config for the serial and was dropped.
			d.hasCert(e.serial)
		}
		d.event(state, reason, e)
		if e.kind == KindPlaintext && e.problem == "" {
			d.warnIfOpen(zap.String("file", e.name))
		}
	}
	if serial != "" {
		d.restate(serial, e) // its siblings are ambiguous, or no longer
	}
	return false
}

// CertificateChanged logs the state of serial's configs again after its
// certificate was added, replaced or removed (waiting_for_certificate ↔
// ready, and a presealed config checked against the new certificate).
func (d *Dir) CertificateChanged(serial string) {
	d.restate(serial, nil)
}

// restate computes the state of serial's files again, but skip's, and
// logs those that changed.
func (d *Dir) restate(serial string, skip *entry) {
	d.mu.RLock()
	es := d.entriesLocked(serial)
	d.mu.RUnlock()
	for _, e := range es {
		if e == skip {
			continue
		}
		state, reason := d.state(e)
		d.mu.Lock()
		changed := d.bySerial[e.key] == e && (e.counted != state || e.reason != reason)
		if changed {
			d.count(e, state, reason)
		}
		d.mu.Unlock()
		if changed {
			d.event(state, reason, e)
		}
	}
}

func (d *Dir) event(state, reason string, e *entry) {
	fields := []zap.Field{
		zap.String("event", "config.state"), zap.String("state", state),
		zap.String("serial", e.serial), zap.String("file", e.name), zap.Int64("bytes", e.size),
		zap.String("kind", e.kind),
	}
	d.m.events.WithLabelValues(state).Inc()
	if state == StateInvalid {
		d.log.Warn("config "+state, append(fields, zap.String("reason", reason))...)
		return
	}
	d.log.Info("config "+state, fields...)
}

// count moves e from the state it is counted under to state ("" to drop
// it), with its reason, and updates the gauges. Callers hold d.mu.
func (d *Dir) count(e *entry, state, reason string) {
	if e.counted != "" {
		d.counts[e.counted]--
	}
	if state != "" {
		d.counts[state]++
	}
	e.counted, e.reason = state, reason
	d.m.set(d.counts[StateReady], d.counts[StateWaitingForCert], d.counts[StateInvalid])
}

type metrics struct {
	configs *prometheus.GaugeVec
	events  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		configs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sealboot_configs", Help: "Config files in the configs directory by state.",
		}, []string{"state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_configs_events_total", Help: "Config file state changes (config.state events) by state.",
		}, []string{"state"}),
	}
	m.set(0, 0, 0) // every series from the start, at zero
	for _, st := range []string{StateReady, StateWaitingForCert, StateRemoved, StateInvalid} {
		m.events.WithLabelValues(st)
	}
	if reg != nil {
		reg.MustRegister(m.configs, m.events)
	}
	return m
}

func (m *metrics) set(ready, waiting, invalid int) {
	m.configs.WithLabelValues(StateReady).Set(float64(ready))
	m.configs.WithLabelValues(StateWaitingForCert).Set(float64(waiting))
	m.configs.WithLabelValues(StateInvalid).Set(float64(invalid))
}
