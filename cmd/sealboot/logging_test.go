package main

import (
	"bytes"
	"encoding/json"
	"errors"
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

// TestLogLinesArePrintable: a device's text in a field (a DHCP model, a
// TFTP name) holding DEL or a C1 control (a CSI) is not written as it is:
// zap's encoders escape only C0, journald stores a line holding DEL or C1
// as binary and journalctl shows it as "[blob data]" (the device's events
// hidden), and a terminal obeys a CSI in the console format.
func TestLogLinesArePrintable(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "console"} {
		var buf bytes.Buffer
		log, _, err := newLogger("info", format, zapcore.AddSync(&buf), false)
		if err != nil {
			t.Fatal(err)
		}
		log.Named("dhcp").With(zap.String("iface", "eth\u009b1")).Info("dhcp.offer "+"x\u0085", zap.String("model", "mx\u009b2J\x7f"),
			zap.Error(errors.New("bad \u009b")), zap.Stringer("ip", stringer("192.0.2.1\u0090")), zap.Int("n", 1))
		out := buf.String()
		if strings.ContainsFunc(out, func(r rune) bool { return r == 0x7f || r >= 0x80 && r <= 0x9f }) {
			t.Errorf("%s: line holds DEL or C1: %q", format, out)
		}
		for _, want := range []string{"mx?2J?", "bad ?", "192.0.2.1?", "eth?1", "dhcp.offer x?"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: line lacks %q: %q", format, want, out)
			}
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
