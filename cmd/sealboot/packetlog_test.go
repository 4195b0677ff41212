package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testPacketLogs is packetLogs over an observer, with a budget of first
// lines per message that never renews during a test, and summaries every
// window.
func testPacketLogs(first int, window time.Duration) (*packetLogs, *observer.ObservedLogs, *prometheus.Registry) {
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	return newPacketLogs(zap.New(core), packetLogging{Tick: time.Hour, First: first, Window: window}, reg), logs, reg
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// suppressedTotal sums the summaries written for msg.
func suppressedTotal(logs *observer.ObservedLogs, msg string) int64 {
	var n int64
	for _, e := range logs.FilterField(zap.String("event", "log.suppressed")).FilterField(zap.String("message", msg)).All() {
		n += e.ContextMap()["suppressed"].(int64)
	}
	return n
}

// waitSummaries waits until the summaries account for want dropped lines
// of msg.
func waitSummaries(t *testing.T, logs *observer.ObservedLogs, msg string, want int64) {
	t.Helper()
	for suppressedTotal(logs, msg) < want {
		select {
		case <-t.Context().Done():
			t.Fatalf("summaries account for %d lines of %q, want %d", suppressedTotal(logs, msg), msg, want)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestPacketLogRateLimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		level   zapcore.Level
		exempt  func(zapcore.Entry) bool
		written int // of 1000
	}{
		{"warn", zapcore.WarnLevel, nil, 5},
		{"error", zapcore.ErrorLevel, nil, 5},
		{"debug", zapcore.DebugLevel, nil, 5},
		{"info, not exempt", zapcore.InfoLevel, nil, 5},
		{"info, exempt", zapcore.InfoLevel, func(e zapcore.Entry) bool { return e.Level == zapcore.InfoLevel }, 1000},
		{"warn, info exempt", zapcore.WarnLevel, func(e zapcore.Entry) bool { return e.Level == zapcore.InfoLevel }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pl, logs, reg := testPacketLogs(5, time.Millisecond)
			log := pl.logger(tt.exempt).Named("tftpd").With(zap.String("component", "test"))
			for i := range 1000 {
				if ce := log.Check(tt.level, "tftp fetch not_found"); ce != nil {
					ce.Write(zap.Int("i", i))
				}
			}
			if n := logs.FilterMessage("tftp fetch not_found").Len(); n != tt.written {
				t.Fatalf("%d lines written of 1000, want %d", n, tt.written)
			}
			dropped := int64(1000 - tt.written)
			waitSummaries(t, logs, "tftp fetch not_found", dropped)
			if got := counterValue(t, pl.sup.counter.WithLabelValues("tftpd")); got != float64(dropped) {
				t.Fatalf("sealboot_log_suppressed_total{logger=tftpd} = %v, want %d", got, dropped)
			}
			if dropped == 0 {
				return
			}
			s := logs.FilterField(zap.String("event", "log.suppressed")).All()[0]
			if s.LoggerName != "tftpd" || s.Level != tt.level || s.Message != fmt.Sprintf("suppressed %d similar lines in the last 1ms", s.ContextMap()["suppressed"]) {
				t.Fatalf("summary: %+v %v", s.Entry, s.ContextMap())
			}
			if mf, err := reg.Gather(); err != nil || len(mf) != 1 || mf[0].GetName() != "sealboot_log_suppressed_total" {
				t.Fatalf("metric not registered: %v %v", mf, err)
			}
		})
	}
}

// Many different messages: each has its own budget, and the summaries of
// one window stay bounded (past maxSuppressedKeys they are counted
// together).
func TestPacketLogSummariesBounded(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	pl := newPacketLogs(zap.New(core), packetLogging{Tick: time.Hour, First: 1, Window: time.Hour}, nil)
	log := pl.logger(nil)
	for m := range 3 * maxSuppressedKeys {
		for range 3 {
			log.Warn(fmt.Sprint("message ", m))
		}
	}
	pl.flush()
	summaries := logs.FilterField(zap.String("event", "log.suppressed"))
	if n := summaries.Len(); n != maxSuppressedKeys+1 {
		t.Fatalf("%d summary lines, want %d", n, maxSuppressedKeys+1)
	}
	// Every line is written or counted (zap's sampler hashes messages
	// into a fixed table, so a few share a budget).
	var dropped int64
	for _, e := range summaries.All() {
		dropped += e.ContextMap()["suppressed"].(int64)
	}
	if written := logs.FilterMessageSnippet("message ").Len(); int64(written)+dropped != 3*3*maxSuppressedKeys || suppressedTotal(logs, "(other messages)") == 0 {
		t.Fatalf("%d lines written, %d counted, of %d", written, dropped, 3*3*maxSuppressedKeys)
	}
	// Stopped: nothing is scheduled any more.
	log.Warn("message 0")
	if !pl.sup.stopped || pl.sup.pending {
		t.Fatal("flush at exit left a summary scheduled")
	}
}
