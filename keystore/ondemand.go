package keystore

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// FetcherConfig configures fetching certificates on demand; Update
// replaces it while running.
type FetcherConfig struct {
	// Vendor is the vendor directory; nil: requests are ignored.
	Vendor      *Vendor
	Concurrency int           // fetches at once; default 4
	MaxQueue    int           // serials waiting at most; default 10,000
	RetryMin    time.Duration // first retry after a failure; default 30s
	RetryMax    time.Duration // retries at most this far apart; default 1h
}

// Fetcher fetches the certificates of serials that need one (a config was
// dropped for them, or the device asked for its config) from the vendor
// directory, in the background: Request never blocks, a bounded number of
// fetches run at once, and a failed fetch is retried with exponential
// backoff and jitter until it succeeds or the serial no longer needs it.
// Each attempt is one keystore.fetch event. It is safe for concurrent use.
type Fetcher struct {
	store  *Store
	log    *zap.Logger
	m      *fetchMetrics
	wanted func(serial string) bool
	// jitter returns a number in [0,1); a field so tests can fix it.
	jitter func() float64
	ready  chan struct{}

	mu       sync.Mutex
	cfg      FetcherConfig
	jobs     map[string]*job // every serial queued, waiting to retry or in flight
	due      jobHeap         // the jobs not in flight, by due time
	running  int
	wake     chan struct{}
	lastFull time.Time // last "queue full" warning
}

type job struct {
	serial   string
	attempts int // failed so far
	due      time.Time
	index    int // in the heap; -1 when not in it
}

// NewFetcher returns a fetcher that imports into store. wanted, when not
// nil, says whether a serial still needs a certificate (it still has a
// config): one that no longer does is dropped from the queue.
func NewFetcher(store *Store, cfg FetcherConfig, wanted func(serial string) bool, log *zap.Logger, reg prometheus.Registerer) *Fetcher {
	f := &Fetcher{store: store, log: log, m: newFetchMetrics(reg), wanted: wanted, jitter: rand.Float64,
		ready: make(chan struct{}), jobs: map[string]*job{}, wake: make(chan struct{}, 1)}
	f.cfg = defaults(cfg)
	return f
}

func defaults(cfg FetcherConfig) FetcherConfig {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10000
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 30 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(cfg.RetryMin, time.Hour)
	}
	return cfg
}

// Update applies new settings. A new vendor directory retries every
// waiting serial now; none drops them all.
func (f *Fetcher) Update(cfg FetcherConfig) {
	cfg = defaults(cfg)
	f.mu.Lock()
	old := f.cfg.Vendor
	f.cfg = cfg
	switch {
	case cfg.Vendor == nil:
		for s, j := range f.jobs {
			if j.index >= 0 {
				heap.Remove(&f.due, j.index)
				delete(f.jobs, s)
			}
		}
	case !old.same(cfg.Vendor):
		for _, j := range f.due {
			j.due, j.attempts = time.Time{}, 0
		}
		heap.Init(&f.due)
	}
	f.m.queue.Set(float64(len(f.jobs)))
	f.mu.Unlock()
	f.poke()
}

// same says whether v and o ask the same directory the same way.
func (v *Vendor) same(o *Vendor) bool {
	if v == nil || o == nil {
		return v == o
	}
	return v.URL == o.URL && v.Timeout == o.Timeout && v.MaxSize == o.MaxSize &&
		reflect.DeepEqual(v.Header, o.Header) && (v.RootCAs == o.RootCAs || v.RootCAs != nil && v.RootCAs.Equal(o.RootCAs))
}

// Request asks for serial's certificate. It returns at once; nothing is
// done without a vendor directory, for a serial already queued, or when
// the queue is full (a later request, when the device asks again, finds
// room).
func (f *Fetcher) Request(serial string) {
	if !ValidSerial(serial) {
		return
	}
	f.mu.Lock()
	if f.cfg.Vendor == nil || f.jobs[serial] != nil {
		f.mu.Unlock()
		return
	}
	if len(f.jobs) >= f.cfg.MaxQueue {
		warn := time.Since(f.lastFull) > time.Minute
		if warn {
			f.lastFull = time.Now()
		}
		f.mu.Unlock()
		f.m.outcomes.WithLabelValues("dropped").Inc()
		if warn { // at most once a minute: requests come from devices
			f.log.Warn("certificate fetch queue full; serials are not queued until some are done",
				zap.String("event", "keystore.fetch"), zap.String("outcome", "dropped"), zap.String("serial", serial),
				zap.Int("max_queue", f.cfg.MaxQueue))
		}
		return
	}
	j := &job{serial: serial}
	f.jobs[serial] = j
	heap.Push(&f.due, j)
	f.m.queue.Set(float64(len(f.jobs)))
	f.mu.Unlock()
	f.poke()
}

func (f *Fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Ready is closed when Run has started.
func (f *Fetcher) Ready() <-chan struct{} { return f.ready }

// Run starts due fetches, at most Concurrency at once, until ctx is done;
// then it waits for the fetches in flight, which ctx cancels.
func (f *Fetcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	close(f.ready)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := f.startDue(ctx, &wg)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-timer.C:
		}
	}
}

// startDue starts the jobs that are due, as concurrency allows, and
// returns how long until the next one is.
func (f *Fetcher) startDue(ctx context.Context, wg *sync.WaitGroup) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for f.running < f.cfg.Concurrency && len(f.due) > 0 && !f.due[0].due.After(now) {
		j := heap.Pop(&f.due).(*job)
		f.running++
		v := f.cfg.Vendor
		wg.Go(func() { f.attempt(ctx, j, v) })
	}
	if len(f.due) == 0 || f.running >= f.cfg.Concurrency {
		return time.Hour // a finished fetch or a request wakes the loop
	}
	return f.due[0].due.Sub(now)
}

// attempt fetches one serial's certificate and logs the outcome.
func (f *Fetcher) attempt(ctx context.Context, j *job, v *Vendor) {
	defer f.poke()
	if f.store.HasCertificate(j.serial) || (f.wanted != nil && !f.wanted(j.serial)) {
		f.done(j)
		return
	}
	start := time.Now()
	e, err := f.store.FetchFrom(ctx, v, j.serial, false)
	if ctx.Err() != nil { // stopping: no verdict on the vendor
		f.done(j)
		return
	}
	fields := []zap.Field{zap.String("event", "keystore.fetch"), zap.String("serial", j.serial),
		zap.Int("attempt", j.attempts+1), zap.Duration("duration", time.Since(start))}
	if err == nil {
		f.done(j)
		f.m.outcomes.WithLabelValues("fetched").Inc()
		f.log.Info("certificate fetched", append(fields, zap.String("outcome", "fetched"),
			zap.String("fingerprint", e.Fingerprint), zap.String("key_type", e.KeyType))...)
		return
	}
	outcome := "failed"
	if errors.Is(err, ErrFetchRefused) || errors.Is(err, ErrPinMismatch) {
		outcome = "refused"
	}
	retry := f.retryLater(j)
	f.m.outcomes.WithLabelValues(outcome).Inc()
	f.log.Warn("certificate fetch "+outcome, append(fields, zap.String("outcome", outcome),
		zap.String("reason", err.Error()), zap.Duration("retry_in", retry))...)
}

// done forgets a job that is finished.
func (f *Fetcher) done(j *job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	if f.jobs[j.serial] == j {
		delete(f.jobs, j.serial)
	}
	f.m.queue.Set(float64(len(f.jobs)))
}

// retryLater puts a failed job back with its next due time: RetryMin
// doubled per failure up to RetryMax, each with "equal jitter" (between
// half and all of it), so that serials that failed together do not all
// come back together. It returns the delay.
func (f *Fetcher) retryLater(j *job) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	if f.jobs[j.serial] != j { // dropped by Update meanwhile
		return 0
	}
	if f.cfg.Vendor == nil {
		delete(f.jobs, j.serial)
		f.m.queue.Set(float64(len(f.jobs)))
		return 0
	}
	d := f.cfg.RetryMin
	for i := 0; i < j.attempts && d < f.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, f.cfg.RetryMax)
	d = d/2 + time.Duration(f.jitter()*float64(d/2))
	j.attempts++
	j.due = time.Now().Add(d)
	heap.Push(&f.due, j)
	return d
}

// Queued is the number of serials queued, waiting to retry or in flight.
func (f *Fetcher) Queued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// jobHeap orders jobs by due time (container/heap).
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, k int) bool { return h[i].due.Before(h[k].due) }
func (h jobHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index, h[k].index = i, k
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

type fetchMetrics struct {
	outcomes *prometheus.CounterVec
	queue    prometheus.Gauge
}

func newFetchMetrics(reg prometheus.Registerer) *fetchMetrics {
	m := &fetchMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_keystore_fetches_total",
			Help: "Certificate fetches from the vendor directory on demand, by outcome (fetched, failed, refused, dropped: queue full).",
		}, []string{"outcome"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_keystore_fetch_queue",
			Help: "Serials whose certificate is being fetched or waits for a retry.",
		}),
	}
	for _, o := range []string{"fetched", "failed", "refused", "dropped"} {
		m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.queue)
	}
	return m
}
