package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/admin"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// statusSocket serves a state with a device in each of five phases, each
// with a DHCP ack and fetches, on a control socket.
func statusSocket(t *testing.T) string {
	t.Helper()
	st := devices.New(devices.Options{})
	now := time.Now()
	ev := func(e devices.Event) { e.Time = now; st.Apply(e) }
	for _, s := range []string{"SERVED", "FAILING", "WAITDEV"} {
		ev(devices.Event{Name: devices.EventCertificate, Serial: s, State: "added", KeyType: "P-256", Fingerprint: "ab"})
		ev(devices.Event{Name: devices.EventConfig, Serial: s, State: "ready", Bytes: 10})
	}
	ev(devices.Event{Name: devices.EventConfig, Serial: "NOCERT", State: "waiting_for_certificate"})
	ev(devices.Event{Name: devices.EventCertificate, Serial: "NOCONF", State: "added"})
	for _, s := range []string{"SERVED", "FAILING", "NOCERT", "NOCONF"} {
		ev(devices.Event{Name: devices.EventOffer, Serial: s, IP: "192.0.2.10", MAC: "02:00:00:00:00:0a", Vendor: "juniper", Model: "mx204"})
		ev(devices.Event{Name: devices.EventAck, Serial: s, IP: "192.0.2.10", MAC: "02:00:00:00:00:0a", Vendor: "juniper", Model: "mx204"})
	}
	ev(devices.Event{Name: "tftp.fetch", Serial: "SERVED", Outcome: "served", Bytes: 900, File: "SERVED.enc"})
	ev(devices.Event{Name: "tftp.fetch", Serial: "NOCERT", Outcome: "no_certificate"})
	ev(devices.Event{Name: "tftp.fetch", Serial: "NOCONF", Outcome: "not_found"})
	for range 3 {
		ev(devices.Event{Name: "tftp.fetch", Serial: "FAILING", Outcome: "aborted", Reason: "the client sent an error"})
	}
	path := filepath.Join(t.TempDir(), "admin.sock")
	s := admin.NewSocket(path, admin.New(admin.Options{Devices: st}), zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.Ready()
	return path
}

func TestStatus(t *testing.T) {
	t.Parallel()
	sock := statusSocket(t)
	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		want     []string
		wantNot  []string
		inStderr string
	}{
		{name: "table", args: nil, code: 0, want: []string{
			"SERIAL", "SERVED   served", "FAILING  failing", "WAITDEV  waiting_for_device", "NOCERT   waiting_for_certificate",
			"NOCONF   waiting_for_config", "5 devices: 1 served, 1 failing, 1 waiting_for_device, 1 waiting_for_certificate, 1 waiting_for_config"}},
		{name: "phase filter", args: []string{"--phase", "failing"}, code: 0, want: []string{"FAILING", "(1 shown)"}, wantNot: []string{"SERVED  "}},
		{name: "serial filter", args: []string{"--serial", "NO*"}, code: 0, want: []string{"NOCERT", "NOCONF"}, wantNot: []string{"FAILING  "}},
		{name: "since", args: []string{"--since", "1h"}, code: 0, want: []string{"FAILING"}},
		{name: "one device", args: []string{"SERVED"}, code: 0, want: []string{"SERVED  served", "dhcp", "story (5 recent events"}},
		{name: "failing device", args: []string{"FAILING"}, code: 1, want: []string{"FAILING  failing", "refused 3 times in a row", "aborted", "the client sent an error"}},
		{name: "unknown device", args: []string{"NONE"}, code: 1, inStderr: "no device NONE"},
		{name: "bad phase", args: []string{"--phase", "lost"}, code: 2, inStderr: `unknown phase "lost"`},
		{name: "serial and filter", args: []string{"SERVED", "--phase", "served"}, code: 2, inStderr: "a serial shows one device"},
		{name: "bad since", args: []string{"--since", "soon"}, code: 2, inStderr: `since "soon"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, nil, append([]string{"status", "--socket", sock}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("stderr lacks %q: %s", tt.inStderr, errOut)
			}
		})
	}
}

func TestStatusUnreachable(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCLI(t, nil, "status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != exitUnreachable || !strings.Contains(errOut, "cannot reach sealboot on") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "status", "SN1", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != exitUnreachable {
		t.Fatalf("one device: exit %d: %s", code, errOut)
	}
	cfg := filepath.Join(t.TempDir(), "sealboot.yaml")
	if err := os.WriteFile(cfg, []byte("admin:\n  socket: \"off\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runCLI(t, nil, "status", "--config", cfg); code != exitUnreachable || !strings.Contains(errOut, "admin.socket is off") {
		t.Fatalf("socket off: exit %d: %s", code, errOut)
	}
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	sock := statusSocket(t)
	code, out, _ := runCLI(t, nil, "status", "--socket", sock, "--json")
	var l devices.List
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Devices) != 5 || l.Summary.Phases["failing"] != 1 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	code, out, _ = runCLI(t, nil, "status", "--socket", sock, "--json", "FAILING")
	var d devices.Device
	if err := json.Unmarshal([]byte(out), &d); code != 1 || err != nil || d.Phase != "failing" || len(d.Story) != 7 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	var order []string
	for _, e := range d.Story {
		order = append(order, e.Event)
	}
	if strings.Join(order, " ") != "certificate.state config.state dhcp.offer dhcp.ack tftp.fetch tftp.fetch tftp.fetch" {
		t.Fatalf("story out of order: %v", order)
	}
}

// frames cancels the watch after n frames.
type frames struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel func()
}

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf.Write(p)
	if f.n--; f.n == 0 {
		f.cancel()
	}
	return len(p), nil
}

func TestStatusWatch(t *testing.T) {
	t.Parallel()
	sock := statusSocket(t)
	ctx, cancel := context.WithCancel(t.Context())
	out := &frames{n: 2, cancel: cancel}
	f := &statusFlags{phases: []string{"failing"}, socket: sock, socketSet: true, watch: true, interval: time.Millisecond}
	err := runStatus(ctx, "sealboot status", f, stdio{out: out, err: out})
	if err != context.Canceled {
		t.Fatalf("watch ended with %v", err)
	}
	if n := strings.Count(out.buf.String(), "Every 1ms: sealboot status --phase failing"); n < 2 || !strings.Contains(out.buf.String(), "\x1b[2J") {
		t.Fatalf("%d frames:\n%q", n, out.buf.String())
	}
}

// TestStatusDeviceTextIsInert: what devices send (a DHCP model, a relay's
// circuit ID, a TFTP client's error message) reaches the operator's
// terminal through sealboot status; its control characters (an escape
// sequence that retitles or clears the terminal, a C1 CSI, a newline that
// forges a row, a tab that shifts columns) are printed as '?', not
// obeyed.
func TestStatusDeviceTextIsInert(t *testing.T) {
	t.Parallel()
	st := devices.New(devices.Options{})
	now := time.Now()
	ev := func(e devices.Event) { e.Time = now; st.Apply(e) }
	const model = "mx\x1b]0;owned\x07\x1b[2J\u009b31m\u202e"
	ev(devices.Event{Name: devices.EventCertificate, Serial: "EVIL", State: "added", KeyType: "P-256", Fingerprint: "ab"})
	ev(devices.Event{Name: devices.EventConfig, Serial: "EVIL", State: "ready", Bytes: 10})
	ev(devices.Event{Name: devices.EventOffer, Serial: "EVIL", IP: "192.0.2.10", MAC: "02:00:00:00:00:0a", Vendor: "arista",
		Model: model, CircuitID: "eth0\nFORGED   served"})
	ev(devices.Event{Name: "tftp.fetch", Serial: "EVIL", Outcome: "aborted", Reason: "client said \u009b2J\tbye"})
	path := filepath.Join(t.TempDir(), "admin.sock")
	s := admin.NewSocket(path, admin.New(admin.Options{Devices: st}), zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.Ready()
	for _, args := range [][]string{nil, {"EVIL"}} {
		_, out, errOut := runCLI(t, nil, append([]string{"status", "--socket", path}, args...)...)
		if !strings.Contains(out, "EVIL") {
			t.Fatalf("status %v: no device in the output:\n%s%s", args, out, errOut)
		}
		for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e", "\nFORGED", "said ?2J\t"} {
			if strings.Contains(out, bad) {
				t.Errorf("status %v: output has %q:\n%q", args, bad, out)
			}
		}
		if !strings.Contains(out, "mx?]0;owned?") {
			t.Errorf("status %v: the model is not shown with its controls as '?':\n%q", args, out)
		}
	}
	// JSON keeps the text as it was, escaped.
	for _, args := range [][]string{{"--json"}, {"--json", "EVIL"}} {
		_, out, errOut := runCLI(t, nil, append([]string{"status", "--socket", path}, args...)...)
		if !strings.Contains(out, "EVIL") {
			t.Fatalf("status %v: no device in the output:\n%s%s", args, out, errOut)
		}
		if strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && unsafeRune(r) }) {
			t.Errorf("status %v: output has control characters:\n%q", args, out)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil || !strings.Contains(fmt.Sprint(v), model) {
			t.Errorf("status %v: not JSON with the model as sent (%v):\n%s", args, err, out)
		}
	}
}
