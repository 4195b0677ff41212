package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestLoggerFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format string
		terminal     bool
		json         bool
	}{
		{"default off a terminal is json", "", false, true},
		{"default on a terminal is console", "", true, false},
		{"explicit json on a terminal", "json", true, true},
		{"explicit console", "console", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, _, err := newLogger("info", tt.format, zapcore.AddSync(&buf), tt.terminal)
			if err != nil {
				t.Fatal(err)
			}
			log.Named("tftpd").Info("fetch", zap.String("event", "tftp.fetch"), zap.Duration("duration", 1500*time.Millisecond))
			var m map[string]any
			isJSON := json.Unmarshal(buf.Bytes(), &m) == nil
			if isJSON != tt.json {
				t.Fatalf("json=%v, want %v: %s", isJSON, tt.json, buf.String())
			}
			if isJSON && (m["logger"] != "tftpd" || m["event"] != "tftp.fetch" || m["duration"] != 1.5 || m["ts"] == nil) {
				t.Fatalf("unexpected fields: %s", buf.String())
			}
			if !isJSON && !strings.Contains(buf.String(), "tftpd\tfetch") {
				t.Fatalf("console line lacks logger name: %q", buf.String())
			}
		})
	}
}

func TestLoggerLevelChangesAtRuntime(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, lvl, err := newLogger("warn", "json", zapcore.AddSync(&buf), false)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	lvl.SetLevel(zap.DebugLevel)
	log.Debug("shown")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "shown") {
		t.Fatalf("level not applied: %q", got)
	}
}

func TestLoggerRejectsBadSettings(t *testing.T) {
	t.Parallel()
	if _, _, err := newLogger("loud", "json", zapcore.AddSync(&bytes.Buffer{}), false); err == nil {
		t.Fatal("accepted level loud")
	}
	if _, _, err := newLogger("info", "xml", zapcore.AddSync(&bytes.Buffer{}), false); err == nil {
		t.Fatal("accepted format xml")
	}
}
