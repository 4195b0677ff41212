package images

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/watchdir"
)

// Run hashes the images and watches the directory until ctx is done. A
// changed file is hashed again once it has been left alone for the settle
// delay.
func (d *Dir) Run(ctx context.Context) error {
	events, err := watchdir.Watch(ctx, d.cfg.Dir, "images directory", d.log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range d.cfg.Workers {
		wg.Go(func() { d.hashWorker(ctx) })
	}
	close(d.ready)
	// Catch up with changes made between New's scan and the watch.
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
					d.log.Error("images directory rescan failed", zap.Error(err))
				}
			} else if !ignored(ev.Name) {
				pending[ev.Name] = time.Now().Add(d.cfg.Settle)
			}
		case name := <-d.recheck:
			if _, ok := pending[name]; !ok {
				pending[name] = time.Now().Add(d.cfg.Settle)
			}
		case <-timer.C:
			d.checkDue(pending)
		}
	}
}

// Rescan compares the whole directory with what is known (SIGHUP).
func (d *Dir) Rescan() error {
	pending := map[string]time.Time{}
	if err := d.rescanInto(pending); err != nil {
		return err
	}
	for name := range pending {
		d.changed(name)
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
		if d.check(n) {
			pending[n] = time.Now().Add(d.cfg.Settle)
		}
	}
	d.mu.RLock()
	var gone []string
	for n := range d.entries {
		if !seen[n] {
			gone = append(gone, n)
		}
	}
	d.mu.RUnlock()
	for _, n := range gone {
		d.check(n)
	}
	return nil
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

// checkDue examines the files whose settle delay has passed.
func (d *Dir) checkDue(pending map[string]time.Time) {
	now := time.Now()
	for name, due := range pending {
		if due.After(now) {
			continue
		}
		delete(pending, name)
		if d.check(name) {
			pending[name] = now.Add(d.cfg.Settle)
		}
	}
}

type metrics struct {
	events *prometheus.CounterVec
	hashed prometheus.Counter
}

// newMetrics registers the counters, and gauges of the images by state
// read at scrape time.
func newMetrics(reg prometheus.Registerer, d *Dir) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_images_events_total", Help: "image.state events by state.",
		}, []string{"state"}),
		hashed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_images_hashed_bytes_total", Help: "Bytes of images read to compute their SHA-256.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.events, m.hashed)
	for _, state := range []string{StateReady, stateHashing, StateInvalid} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sealboot_images", Help: "Files in the images directory by state (hashing: not servable until hashed).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return float64(d.counts()[state]) }))
	}
	return m
}
