package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// startMetrics runs a metrics server on a free port and returns its base URL.
func startMetrics(t *testing.T, withPProf bool) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sealboot_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	m := newMetricsServer("127.0.0.1:0", withPProf, reg, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	return "http://" + (<-m.bound).String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	base := startMetrics(t, false)
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "sealboot_test_total 3") {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("pprof served while off: %d", code)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Fatalf("/nothing: %d", code)
	}
}

func TestMetricsPProf(t *testing.T) {
	base := startMetrics(t, true)
	code, body := get(t, base+"/debug/pprof/")
	if code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/: %d %q", code, body)
	}
}
