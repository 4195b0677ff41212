package keystore

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// vendorServer is a vendor certificate directory over HTTPS with a CA of
// its own (httptest's), publishing certificates for some serials.
type vendorServer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	certs    map[string][]byte
	down     atomic.Bool  // answer 503
	inFlight atomic.Int32 // requests being answered
	maxSeen  atomic.Int32
	hold     chan struct{} // when not nil, each answer waits for it to close
	token    string        // Authorization header required, when set
	requests atomic.Int32
}

func newVendorServer(t *testing.T) *vendorServer {
	t.Helper()
	v := &vendorServer{certs: map[string][]byte{}}
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.requests.Add(1)
		n := v.inFlight.Add(1)
		defer v.inFlight.Add(-1)
		for m := v.maxSeen.Load(); n > m && !v.maxSeen.CompareAndSwap(m, n); m = v.maxSeen.Load() {
		}
		if v.hold != nil {
			<-v.hold
		}
		serial := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/certs/"), ".pem")
		switch {
		case v.down.Load():
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case v.token != "" && r.Header.Get("Authorization") != "Bearer "+v.token:
			http.Error(w, "no", http.StatusUnauthorized)
		case serial == "SN-DOWNGRADE":
			http.Redirect(w, r, plain.URL+"/certs/SN-DOWNGRADE.pem", http.StatusFound)
		default:
			v.mu.Lock()
			data, ok := v.certs[serial]
			v.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(data)
		}
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendorServer) publish(serial string, data []byte) {
	v.mu.Lock()
	v.certs[serial] = data
	v.mu.Unlock()
}

// vendor is the directory as the fetcher is given it: the URL template and
// the test CA as the only root (keystore.fetch_ca).
func (v *vendorServer) vendor(t *testing.T) *Vendor {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(v.srv.Certificate())
	vd, err := NewVendor(Vendor{URL: v.srv.URL + "/certs/{serial}.pem", RootCAs: pool, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return vd
}

// fetchHarness runs a Fetcher on a harness's store.
type fetchHarness struct {
	*harness
	f    *Fetcher
	logs *observer.ObservedLogs
}

func newFetchHarness(t *testing.T, cfg FetcherConfig, wanted func(string) bool) *fetchHarness {
	t.Helper()
	h := newHarness(t, Options{})
	core, logs := observer.New(zap.DebugLevel)
	f := NewFetcher(h.store, cfg, wanted, zap.New(core), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-f.Ready()
	return &fetchHarness{harness: h, f: f, logs: logs}
}

// fetchEvents are the keystore.fetch events with outcome for serial.
func (h *fetchHarness) fetchEvents(serial, outcome string) []observer.LoggedEntry {
	return h.logs.FilterField(zap.String("event", "keystore.fetch")).FilterField(zap.String("serial", serial)).
		FilterField(zap.String("outcome", outcome)).AllUntimed()
}

func TestFetcherFetchesWhatIsAskedWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	v := newVendorServer(t)
	v.hold = make(chan struct{})
	const n = 40
	serials := make([]string, n)
	for i := range serials {
		serials[i] = "SN-Q" + string(rune('A'+i/26)) + string(rune('A'+i%26))
		v.publish(serials[i], device(t, serials[i], P256).CertPEM)
	}
	h := newFetchHarness(t, FetcherConfig{Vendor: v.vendor(t), Concurrency: 3}, nil)
	for _, s := range serials {
		h.f.Request(s)
		h.f.Request(s) // asked twice (a config and the device): fetched once
	}
	eventually(t, "three fetches under way", func() bool { return v.inFlight.Load() == 3 })
	close(v.hold)
	eventually(t, "every certificate fetched", func() bool { return h.store.Len() == n })
	eventually(t, "queue empty", func() bool { return h.f.Queued() == 0 })
	if m := v.maxSeen.Load(); m > 3 {
		t.Errorf("%d fetches at once, want at most 3", m)
	}
	if r := v.requests.Load(); r != n {
		t.Errorf("%d requests for %d serials", r, n)
	}
	if ev := h.fetchEvents(serials[0], "fetched"); len(ev) != 1 || field(ev[0], "fingerprint") == "" {
		t.Errorf("fetched events for %s: %+v", serials[0], ev)
	}
}

func TestFetcherRetriesWhileTheVendorIsDown(t *testing.T) {
	t.Parallel()
	v := newVendorServer(t)
	v.publish("SN-R", device(t, "SN-R", P256).CertPEM)
	v.down.Store(true)
	h := newFetchHarness(t, FetcherConfig{Vendor: v.vendor(t), RetryMin: 5 * time.Millisecond, RetryMax: 40 * time.Millisecond}, nil)
	h.f.Request("SN-R")
	eventually(t, "three failed attempts", func() bool { return len(h.fetchEvents("SN-R", "failed")) >= 3 })
	failed := h.fetchEvents("SN-R", "failed")
	if r := field(failed[0], "reason"); !strings.Contains(r, "503") {
		t.Errorf("reason %q, want the vendor's 503", r)
	}
	for i, e := range failed {
		retry := e.ContextMap()["retry_in"].(time.Duration)
		if retry <= 0 || retry > 40*time.Millisecond {
			t.Errorf("attempt %d: retry in %s, want within (0, retry max]", i+1, retry)
		}
	}
	v.down.Store(false)
	eventually(t, "fetched once the vendor is back", func() bool { return h.store.HasCertificate("SN-R") })
	if ev := h.fetchEvents("SN-R", "fetched"); len(ev) != 1 || ev[0].ContextMap()["attempt"].(int64) < 4 {
		t.Fatalf("fetched events: %+v", ev)
	}
}

func TestFetcherRefusals(t *testing.T) {
	t.Parallel()
	v := newVendorServer(t)
	v.publish("SN-LIAR", device(t, "SN-OTHER", P256).CertPEM)
	v.publish("SN-RMA", device(t, "SN-RMA", P256).CertPEM)
	h := newFetchHarness(t, FetcherConfig{Vendor: v.vendor(t), RetryMin: time.Hour}, nil)
	// SN-RMA is pinned to another key; it was then removed (its pin
	// stays in the pin file while the certificate is gone).
	if _, err := h.store.Import(device(t, "SN-RMA", P256).CertPEM, "", false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.dir, "SN-RMA.crt")); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	for _, s := range []string{"SN-LIAR", "SN-DOWNGRADE", "SN-RMA"} {
		h.f.Request(s)
	}
	eventually(t, "all refused", func() bool {
		return len(h.fetchEvents("SN-LIAR", "refused")) == 1 && len(h.fetchEvents("SN-DOWNGRADE", "refused")) == 1 &&
			len(h.fetchEvents("SN-RMA", "refused")) == 1
	})
	for serial, want := range map[string]string{
		"SN-LIAR":      `the certificate is for serial "SN-OTHER"`,
		"SN-DOWNGRADE": "redirect to http://127.0.0.1",
		"SN-RMA":       "is pinned to key",
	} {
		r := field(h.fetchEvents(serial, "refused")[0], "reason")
		if !strings.Contains(r, want) {
			t.Errorf("%s: reason %q, want %q", serial, r, want)
		}
		if strings.Contains(r, "/certs/") {
			t.Errorf("%s: reason %q names the URL", serial, r)
		}
	}
	if h.store.Len() != 0 {
		t.Fatalf("refused certificates stored: %+v", h.store.List())
	}
	if h.f.Queued() != 3 {
		t.Fatalf("%d queued, want each waiting to retry", h.f.Queued())
	}
}

func TestFetcherHeadersQueueCapAndWanted(t *testing.T) {
	t.Parallel()
	v := newVendorServer(t)
	v.token = "s3cr3t-t0ken"
	v.publish("SN-H", device(t, "SN-H", P256).CertPEM)
	v.publish("SN-GONE", device(t, "SN-GONE", P256).CertPEM)
	vd := v.vendor(t)
	vd.Header = http.Header{"Authorization": {"Bearer " + v.token}}
	h := newFetchHarness(t, FetcherConfig{Vendor: vd, MaxQueue: 1, RetryMin: time.Hour}, func(s string) bool { return s != "SN-GONE" })
	h.f.Request("SN-GONE") // no config any more by the time it runs: not fetched
	eventually(t, "dropped", func() bool { return h.f.Queued() == 0 })
	if v.requests.Load() != 0 || h.store.HasCertificate("SN-GONE") {
		t.Fatal("a serial no longer wanted was fetched")
	}
	h.f.Request("SN-404") // not published: waits an hour to retry
	eventually(t, "not found", func() bool { return len(h.fetchEvents("SN-404", "failed")) == 1 })
	if r := field(h.fetchEvents("SN-404", "failed")[0], "reason"); !strings.Contains(r, "404") {
		t.Errorf("reason %q, want 404 (the token was accepted)", r)
	}
	h.f.Request("SN-FULL") // the queue holds one
	if h.f.Queued() != 1 || h.logs.FilterField(zap.String("outcome", "dropped")).Len() != 1 {
		t.Fatalf("queue full: %d queued, not said once", h.f.Queued())
	}
	h.f.Update(FetcherConfig{Vendor: vd, MaxQueue: 2, RetryMin: time.Hour})
	h.f.Request("SN-H")
	eventually(t, "fetched with the token", func() bool { return h.store.HasCertificate("SN-H") })
	for _, e := range h.logs.All() {
		for k, val := range e.ContextMap() {
			if s, ok := val.(string); ok && strings.Contains(s, v.token) {
				t.Errorf("the token is logged in %q %s", e.Message, k)
			}
		}
	}
	// Without a vendor, requests do nothing.
	h.f.Update(FetcherConfig{})
	h.f.Request("SN-NONE")
	if h.f.Queued() != 0 {
		t.Fatal("queued without a vendor directory")
	}
}
