// Package e2e runs the real sealboot binary in network namespaces against
// real clients (dhclient, udhcpc, tftp, curl, openssl) and the emulated
// device. The tests need root; without it they skip.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/test/netns"
)

// sealbootBin is built once by TestMain.
var sealbootBin string

func TestMain(m *testing.M) {
	if netns.Check() == nil {
		dir, err := os.MkdirTemp("", "sealboot-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sealbootBin = filepath.Join(dir, "sealboot")
		out, err := exec.Command("go", "build", "-o", sealbootBin, "../../cmd/sealboot").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build sealboot: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// need skips the test unless every program is installed.
func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (see test/deps.sh for its Debian package)", p)
		}
	}
}

// lab is a server namespace and a client namespace joined by a veth pair:
// 192.0.2.1/24 and 2001:db8::1/64 on the server side.
type lab struct {
	t        *testing.T
	dir      string
	srv, cli *netns.Link
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	srv, cli := netns.Pair(t, []string{"192.0.2.1/24", "2001:db8::1/64"}, nil)
	return &lab{t: t, dir: t.TempDir(), srv: srv, cli: cli}
}

// config writes a configuration for a server on the lab, with extra YAML
// appended, and returns its path.
func (l *lab) config(extra string) string {
	l.t.Helper()
	state := filepath.Join(l.dir, "state")
	yaml := fmt.Sprintf(`state_dir: %s
log:
  level: debug
watch:
  settle: 50ms
keystore:
  settle: 50ms
tftp:
  listen: ["192.0.2.1:69", "[2001:db8::1]:69"]
  timeout: 1s
dhcp:
  enabled: true
  v4:
    interfaces: [%s]
    pool: 192.0.2.100-192.0.2.199
    netmask: 255.255.255.0
    router: 192.0.2.1
    lease_time: 1h
%s`, state, l.srv.Name, extra)
	path := filepath.Join(l.dir, "sealboot.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		l.t.Fatal(err)
	}
	for _, d := range []string{"keys", "configs"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o700); err != nil {
			l.t.Fatal(err)
		}
	}
	return path
}

func (l *lab) keysDir() string    { return filepath.Join(l.dir, "state", "keys") }
func (l *lab) socket() string     { return filepath.Join(l.dir, "admin.sock") }
func (l *lab) configsDir() string { return filepath.Join(l.dir, "state", "configs") }

// server is sealboot serve running in the lab's server namespace.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	log  []map[string]any
	done chan struct{}
}

func (l *lab) start(cfgPath string) *server {
	l.t.Helper()
	return startServerSocket(l.t, l.srv.NS, cfgPath, l.socket())
}

// startServer runs sealboot serve in ns and returns once it is ready.
func startServer(t *testing.T, ns *netns.NS, cfgPath string) *server {
	t.Helper()
	return startServerSocket(t, ns, cfgPath, "")
}

// startServerSocket is startServer with its control socket at sock (empty:
// one of its own).
func startServerSocket(t *testing.T, ns *netns.NS, cfgPath, sock string) *server {
	t.Helper()
	return startServerEnv(t, ns, cfgPath, sock, nil)
}

// startServerEnv is startServerSocket with more environment variables.
func startServerEnv(t *testing.T, ns *netns.NS, cfgPath, sock string, env []string) *server {
	t.Helper()
	s := &server{t: t, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	s.cmd = ns.Command(context.Background(), sealbootBin, "serve", "--config", cfgPath)
	// A control socket of its own, not the host's /run/sealboot/admin.sock:
	// the lab's (l.socket) or, for servers started otherwise, a new one.
	if sock == "" {
		sock = filepath.Join(t.TempDir(), "admin.sock")
	}
	s.cmd.Env = append(append(os.Environ(), "SEALBOOT_ADMIN_SOCKET="+sock), env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go s.read(stderr)
	t.Cleanup(s.stop)
	s.wait("sealboot ready", nil)
	return s
}

func (s *server) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil { // operators parse this log: every line must be JSON
			m = map[string]any{"msg": sc.Text(), "not_json": true}
		}
		s.mu.Lock()
		s.log = append(s.log, m)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	_ = s.cmd.Wait()
	s.mu.Lock()
	s.log = append(s.log, map[string]any{"msg": "<exited>"})
	s.cond.Broadcast()
	s.mu.Unlock()
	close(s.done)
}

// wait returns the first log line with msg (substring) for which match
// (nil: any) holds.
func (s *server) wait(msg string, match func(map[string]any) bool) map[string]any {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(s.log); i++ {
			m := s.log[i]
			if mm, _ := m["msg"].(string); strings.Contains(mm, msg) && (match == nil || match(m)) {
				return m
			}
			if m["msg"] == "<exited>" {
				s.t.Fatalf("sealboot exited while waiting for %q; log:\n%s", msg, s.dump())
			}
		}
		s.cond.Wait()
		i--
	}
}

// waitNth waits for the n-th (from 0) log line whose msg contains msg.
func (s *server) waitNth(msg string, n int) map[string]any {
	s.t.Helper()
	seen := 0
	return s.wait(msg, func(map[string]any) bool {
		seen++
		return seen > n
	})
}

// events returns the log lines with event == name.
func (s *server) events(name string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, m := range s.log {
		if m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// logText is the log so far, one JSON line each, for a test to keep.
func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dump()
}

// dump is the log so far; the caller holds s.mu.
func (s *server) dump() string {
	var b strings.Builder
	for _, m := range s.log {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done // shutdown is bounded by sealboot itself (shutdown_timeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.log {
		if m["not_json"] == true {
			s.t.Errorf("sealboot logged a line that is not JSON: %q", m["msg"])
		}
	}
	if !s.cmd.ProcessState.Success() && !strings.Contains(s.cmd.ProcessState.String(), "killed") {
		s.t.Errorf("sealboot exited with %v after SIGTERM", s.cmd.ProcessState)
	}
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// run runs a command in ns and returns its combined output; it fails the
// test on error unless allowFail.
func run(t *testing.T, ns *netns.NS, allowFail bool, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, argv...).CombinedOutput()
	if err != nil && !allowFail {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
