package keystore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// eventually polls cond until it holds or the test's context ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("never happened: %s", what)
		case <-tick.C:
		}
	}
}

func TestRunWatchesDirectory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Settle: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.store.Run(ctx) }()
	<-h.store.Ready()

	id := device(t, "SN-W", P256)
	tmp := filepath.Join(h.dir, ".incoming")
	if err := os.WriteFile(tmp, id.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, "SN-W.pem")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "certificate dropped into the directory is loaded", func() bool { return h.store.HasCertificate("SN-W") })
	// Started on an empty directory, the first certificate is an event of
	// its own and reaches OnChange (the configs directory waits on it).
	eventually(t, "added event", func() bool { return len(h.events("added")) == 1 })
	h.mu.Lock()
	if strings.Join(h.changed, ",") != "SN-W" {
		t.Errorf("OnChange calls: %v, want SN-W", h.changed)
	}
	h.mu.Unlock()
	if err := os.Remove(filepath.Join(h.dir, "SN-W.pem")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "removed certificate is dropped", func() bool { return !h.store.HasCertificate("SN-W") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	good := device(t, "SN-F", P256)
	other := device(t, "SN-OTHER", P256)
	mux := http.NewServeMux()
	mux.HandleFunc("/certs/SN-F.pem", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(good.CertPEM) })
	mux.HandleFunc("/certs/SN-LIAR.pem", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(other.CertPEM) })
	mux.HandleFunc("/certs/SN-BIG.pem", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("A", 100<<10)))
	})
	plain := httptest.NewServer(mux) // what a redirect must not lead to
	t.Cleanup(plain.Close)
	mux.HandleFunc("/certs/SN-DOWNGRADE.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/certs/SN-F.pem", http.StatusFound)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	// A vendor that never answers: its own server and client, and a
	// handler that returns only when the test ends (not when the request's
	// context says so), so no answer can reach the client before its
	// deadline.
	release := make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name, url, serial, want string
	}{
		{"ok", srv.URL + "/certs/{serial}.pem", "SN-F", ""},
		{"not found", srv.URL + "/certs/{serial}.pem", "SN-NONE", "404 Not Found"},
		{"wrong serial served", srv.URL + "/certs/{serial}.pem", "SN-LIAR", `the certificate is for serial "SN-OTHER"`},
		{"too big", srv.URL + "/certs/{serial}.pem", "SN-BIG", "exceeds the 65536-byte limit"},
		{"timeout", slow.URL + "/certs/{serial}.pem", "SN-SLOW", "deadline exceeded"},
		{"plain http", strings.Replace(srv.URL, "https", "http", 1) + "/certs/{serial}.pem", "SN-F", "must use https"},
		{"redirect to plain http", srv.URL + "/certs/{serial}.pem", "SN-DOWNGRADE", "fetched over https only"},
		{"no placeholder", srv.URL + "/certs/x.pem", "SN-F", "has no {serial}"},
		{"bad serial", srv.URL + "/certs/{serial}.pem", "../x", `invalid serial "../x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Only the case about the timeout gets a short one: under load
			// a TLS handshake with the race detector took longer than
			// 200 ms, and the other cases failed with a deadline.
			timeout := time.Minute
			client := srv.Client()
			if tt.name == "timeout" {
				timeout, client = 200*time.Millisecond, slow.Client()
			}
			h := newHarness(t, Options{FetchURL: tt.url, FetchTimeout: timeout, HTTPClient: client})
			e, err := h.store.Fetch(t.Context(), tt.serial, false)
			if tt.want == "" {
				if err != nil || e.Serial != tt.serial || !h.store.HasCertificate(tt.serial) {
					t.Fatalf("fetch: %+v, %v", e, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("untrusted server certificate", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{FetchURL: srv.URL + "/certs/{serial}.pem"}) // default client: system roots
		if _, err := h.store.Fetch(t.Context(), "SN-F", false); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a TLS verification error", err)
		}
	})
	t.Run("pin applies to fetched certificates", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{FetchURL: srv.URL + "/certs/{serial}.pem", HTTPClient: srv.Client()})
		if _, err := h.store.Import(device(t, "SN-F", P256).CertPEM, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.Fetch(t.Context(), "SN-F", false); !errors.Is(err, ErrPinMismatch) {
			t.Fatalf("got %v, want ErrPinMismatch", err)
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	id, err := GenerateDevice("SN-FUZZ", P256)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(id.CertPEM)
	f.Add(id.Cert.Raw)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := ParseCertificate(data)
		if err != nil {
			return
		}
		if s, err := SubjectSerial(cert); err == nil && !ValidSerial(s) {
			t.Fatalf("SubjectSerial returned unusable serial %q", s)
		}
		_ = KeyTypeName(cert)
		_ = usableKey(cert, false)
	})
}

// BenchmarkScan measures the first scan of a directory of 10,000
// certificates: time and retained heap per certificate.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	const n = 10000
	for i := range n {
		d, err := GenerateDevice(fmt.Sprintf("SN%06d", i), P256)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("SN%06d.crt", i)), d.CertPEM, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.Chtimes(filepath.Join(dir, e.Name()), old, old)
	}
	b.ResetTimer()
	var heap uint64
	for i := 0; i < b.N; i++ {
		_ = os.Remove(filepath.Join(dir, pinsFile))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, err := Open(Options{Dir: dir}, zap.NewNop(), nil)
		if err != nil || st.Len() != n {
			b.Fatalf("%v, %d certificates", err, st.Len())
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(st)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/cert")
	b.ReportMetric(float64(heap)/n, "heap-bytes/cert")
}
