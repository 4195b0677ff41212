package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// fleet is a state with a device in each of five phases.
func fleet(t *testing.T) *devices.State {
	t.Helper()
	st := devices.New(devices.Options{})
	now := time.Now()
	ev := func(name, serial, state, outcome string) {
		st.Apply(devices.Event{Time: now, Name: name, Serial: serial, State: state, Outcome: outcome, Remote: "192.0.2.9:1000", File: serial + ".enc"})
	}
	for _, s := range []string{"SERVED", "FAILING", "WAITDEV"} {
		ev(devices.EventCertificate, s, "added", "")
		ev(devices.EventConfig, s, "ready", "")
	}
	ev(devices.EventConfig, "NOCERT", "waiting_for_certificate", "")
	ev(devices.EventCertificate, "NOCONF", "added", "")
	ev("tftp.fetch", "SERVED", "", "served")
	for range 3 {
		ev("tftp.fetch", "FAILING", "", "aborted")
	}
	return st
}

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func TestAPI(t *testing.T) {
	t.Parallel()
	notReady := []string{"dhcp"}
	h := New(Options{Devices: fleet(t), NotReady: func() []string { return notReady }})
	for _, tt := range []struct {
		name, path string
		code       int
		want       []string
	}{
		{"all", "/api/v1/devices", 200, []string{`"serial":"FAILING"`, `"serial":"WAITDEV"`, `"matched":5`}},
		{"filtered", "/api/v1/devices?phase=failing", 200, []string{`"matched":1`, `"serial":"FAILING"`}},
		{"two phases", "/api/v1/devices?phase=served&phase=failing", 200, []string{`"matched":2`}},
		{"pattern", "/api/v1/devices?serial=NO*", 200, []string{`"matched":2`}},
		{"bad phase", "/api/v1/devices?phase=lost", 400, []string{`"error":"unknown phase \"lost\"`}},
		{"bad since", "/api/v1/devices?since=yesterday", 400, []string{`since \"yesterday\"`}},
		{"one", "/api/v1/devices/FAILING", 200, []string{`"phase":"failing"`, `"story":[`, `"result":"aborted"`}},
		{"unknown", "/api/v1/devices/NONE", 404, []string{`"error":"no device with this serial"`}},
		{"healthz", "/healthz", 200, []string{"ok"}},
		{"readyz", "/readyz", 503, []string{"not ready: dhcp"}},
		{"nothing", "/nothing", 404, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := get(t, h, tt.path)
			if code != tt.code {
				t.Fatalf("%d, want %d: %s", code, tt.code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %s: %s", w, body)
				}
			}
		})
	}
	notReady = nil
	if code, _, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("readyz with all ready: %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/devices", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	h := New(Options{Devices: fleet(t), Version: "v9"})
	code, hdr, body := get(t, h, "/")
	if code != 200 || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("%d %v", code, hdr)
	}
	for _, w := range []string{`http-equiv="refresh"`, `<a href="/devices/FAILING">FAILING</a>`, `<span class="phase failing">failing</span>`, "v9"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %s", w)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script") {
		t.Error("the page refers to another host or runs a script")
	}
	_, _, body = get(t, h, "/?phase=failing")
	if n := strings.Count(body, `<tr class="device"`); n != 1 || !strings.Contains(body, `data-serial="FAILING"`) {
		t.Fatalf("filtered to failing: %d rows", n)
	}
	code, _, body = get(t, h, "/devices/FAILING")
	if code != 200 || strings.Count(body, `<tr class="event"`) != 5 {
		t.Fatalf("device page: %d\n%s", code, body)
	}
	if code, _, _ := get(t, h, "/devices/NONE"); code != 404 {
		t.Fatalf("unknown device page: %d", code)
	}
	_, _, body = get(t, h, "/?phase=lost")
	if !strings.Contains(body, "unknown phase") {
		t.Fatal("a bad filter is not explained")
	}
}

func TestSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "admin.sock")
	s := NewSocket(path, New(Options{Devices: fleet(t)}), zap.NewNop())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v %v", fi.Mode(), err)
	}
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := c.Get("http://sealboot/api/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	var l devices.List
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || l.Summary.Devices != 5 {
		t.Fatalf("%v %+v", err, l.Summary)
	}
	resp.Body.Close()

	// A second server refuses to take over a socket in use.
	err = NewSocket(path, http.NotFoundHandler(), zap.NewNop()).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another process listens on it") {
		t.Fatalf("second server: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestSocketStaleAndInTheWay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a socket file nobody answers on, as a crash leaves it
	ctx, cancel := context.WithCancel(t.Context())
	s := NewSocket(stale, http.NotFoundHandler(), zap.NewNop())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("stale socket not replaced: %v", err)
	}
	cancel()
	<-done

	file := filepath.Join(dir, "file")
	_ = os.WriteFile(file, []byte("keep me"), 0o600)
	err = NewSocket(file, http.NotFoundHandler(), zap.NewNop()).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("file in the way: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("a file in the way was removed")
	}
}
