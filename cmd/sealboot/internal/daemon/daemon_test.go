package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fake is a component whose behaviour each test sets.
type fake struct {
	ready    chan struct{}
	startErr error         // returned at once instead of serving
	stall    chan struct{} // when set, Run ignores ctx until this is closed
}

func newFake() *fake { return &fake{ready: make(chan struct{})} }

func (f *fake) Ready() <-chan struct{} { return f.ready }

func (f *fake) Run(ctx context.Context) error {
	if f.startErr != nil {
		return f.startErr
	}
	close(f.ready)
	<-ctx.Done()
	if f.stall != nil {
		<-f.stall
	}
	return nil
}

func TestRunnerReadyOnlyWhenAllReady(t *testing.T) {
	t.Parallel()
	a, b := newFake(), newFake()
	ready := make(chan struct{})
	r := &Runner{Log: zaptest.NewLogger(t), ShutdownTimeout: time.Minute, OnReady: func() { close(ready) }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, []Task{{"a", a}, {"b", b}}) }()
	<-ready
	for _, f := range []*fake{a, b} {
		select {
		case <-f.ready:
		default:
			t.Fatal("OnReady called before every component was ready")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

func TestRunnerStartFailureNamesComponent(t *testing.T) {
	t.Parallel()
	ok, bad := newFake(), newFake()
	bad.startErr = errors.New("listen udp :69: permission denied")
	var readyCalled, stoppingCalled atomic.Bool
	r := &Runner{
		Log: zaptest.NewLogger(t), ShutdownTimeout: time.Minute,
		OnReady:    func() { readyCalled.Store(true) },
		OnStopping: func() { stoppingCalled.Store(true) },
	}
	err := r.Run(t.Context(), []Task{{"dhcp", ok}, {"tftp", bad}})
	if err == nil || err.Error() != "tftp: listen udp :69: permission denied" {
		t.Fatalf("got %v, want the failing component named", err)
	}
	if readyCalled.Load() {
		t.Fatal("OnReady called although a component failed to start")
	}
	if !stoppingCalled.Load() {
		t.Fatal("OnStopping not called")
	}
}

func TestRunnerBoundsShutdown(t *testing.T) {
	t.Parallel()
	stuck := newFake()
	stuck.stall = make(chan struct{})
	defer close(stuck.stall)
	r := &Runner{Log: zaptest.NewLogger(t), ShutdownTimeout: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, []Task{{"tftp", stuck}}) }()
	<-stuck.ready
	cancel()
	if err := <-done; !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("got %v, want ErrStopTimeout", err)
	}
}

func TestNotifierSendsToSocket(t *testing.T) {
	// Not parallel: sets NOTIFY_SOCKET for the process.
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	n := Notifier{Log: zaptest.NewLogger(t)}
	for _, tc := range []struct {
		name string
		send func()
		want string
	}{
		{"ready", func() { n.Ready("serving") }, "READY=1\nSTATUS=serving"},
		{"reloading", n.Reloading, "RELOADING=1"},
		{"stopping", n.Stopping, "STOPPING=1"},
	} {
		tc.send()
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		m, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(buf[:m]); !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
	_ = os.Unsetenv("NOTIFY_SOCKET")
}
