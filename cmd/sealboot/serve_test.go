package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// daemonProc is a running `sealboot serve` whose JSON log lines are
// collected.
type daemonProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	cond  *sync.Cond
	done  chan error
	// late is closed a minute before the test binary's -timeout: waits
	// for sealboot then fail with its log rather than leave the timeout
	// to end the run with the test's stacks only.
	late chan struct{}
}

func startDaemon(t *testing.T, bin string, env []string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return startProc(t, cmd)
}

// startProc starts cmd, a `sealboot serve`, and collects its log.
func startProc(t *testing.T, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	// A control socket of its own: as root the default is the host's
	// /run/sealboot/admin.sock, which another sealboot may hold.
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append([]string{"SEALBOOT_ADMIN_SOCKET=" + filepath.Join(t.TempDir(), "admin.sock")}, cmd.Env...)
	d := &daemonProc{t: t, cmd: cmd, done: make(chan error, 1), late: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	if deadline, ok := t.Deadline(); ok {
		timer := time.AfterFunc(time.Until(deadline.Add(-time.Minute)), func() {
			close(d.late)
			d.mu.Lock()
			d.cond.Broadcast()
			d.mu.Unlock()
		})
		t.Cleanup(func() { timer.Stop() })
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go d.read(stderr)
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

func (d *daemonProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			m = map[string]any{"msg": sc.Text()}
		}
		d.mu.Lock()
		d.lines = append(d.lines, m)
		d.cond.Broadcast()
		d.mu.Unlock()
	}
	d.done <- d.cmd.Wait()
	d.mu.Lock()
	d.lines = append(d.lines, map[string]any{"msg": "<exited>"})
	d.cond.Broadcast()
	d.mu.Unlock()
}

// waitFor waits for a log line whose msg contains msg and returns it.
func (d *daemonProc) waitFor(msg string) map[string]any {
	d.t.Helper()
	return d.waitMatch(msg, func(map[string]any) bool { return true })
}

// waitForField waits for a log line with msg whose field key is value.
func (d *daemonProc) waitForField(msg, key, value string) map[string]any {
	d.t.Helper()
	return d.waitMatch(msg, func(m map[string]any) bool { return m[key] == value })
}

// waitMatch waits for the first log line with msg for which match holds.
func (d *daemonProc) waitMatch(msg string, match func(map[string]any) bool) map[string]any {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := 0
	for {
		for ; seen < len(d.lines); seen++ {
			if m, _ := d.lines[seen]["msg"].(string); strings.Contains(m, msg) && match(d.lines[seen]) {
				return d.lines[seen]
			}
			if d.lines[seen]["msg"] == "<exited>" {
				d.t.Fatalf("sealboot exited before logging %q; log:\n%v", msg, d.lines)
			}
		}
		d.failIfLate("logging " + strconv.Quote(msg))
		d.cond.Wait()
	}
}

// failIfLate fails the test with sealboot's last log lines once the test
// binary's deadline is near; callers hold d.mu.
func (d *daemonProc) failIfLate(what string) {
	d.t.Helper()
	select {
	case <-d.late:
	default:
		return
	}
	var tail []string
	for _, m := range d.lines[max(0, len(d.lines)-300):] {
		tail = append(tail, fmt.Sprint(m))
	}
	d.t.Fatalf("sealboot still not %s a minute before the test binary's deadline; its last log lines:\n%s", what, strings.Join(tail, "\n"))
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestServeLifecycle: start on a config file, tell systemd READY=1, serve
// curl, refuse a broken file on SIGHUP while serving on, apply a good one,
// stop cleanly on SIGTERM.
func TestServeLifecycle(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	dir := t.TempDir()
	port := freeUDPPort(t)
	cfgFile := filepath.Join(dir, "sealboot.yaml")
	metricsAddr := freeTCPAddr(t)
	good := fmt.Sprintf("state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:%d\"]\nlog:\n  level: info\nmetrics:\n  listen: %s\n", dir, port, metricsAddr)
	if err := os.WriteFile(cfgFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	notify := filepath.Join(dir, "notify.sock")
	nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close()
	d := startDaemon(t, bin, []string{"NOTIFY_SOCKET=" + notify}, "--config", cfgFile)
	d.waitFor("sealboot ready")
	buf := make([]byte, 256)
	_ = nconn.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := nconn.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1") {
		t.Fatalf("sd_notify: %q %v", buf[:n], err)
	}

	id, err := keystore.GenerateDevice("SN42", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "keys", "SN42.crt"), id.CertPEM, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "configs", "SN42.cfg"), []byte("hostname r42\n"), 0o600)
	d.waitFor("config ready")
	fetch := func() error {
		out := filepath.Join(dir, "got.enc")
		if b, err := exec.Command("curl", "-sS", "--fail", "-o", out, fmt.Sprintf("tftp://127.0.0.1:%d/SN42.enc", port)).CombinedOutput(); err != nil {
			return fmt.Errorf("curl: %v %s", err, b)
		}
		data, _ := os.ReadFile(out)
		plain, err := cms.Open(id.Key, data)
		if err != nil || string(plain) != "hostname r42\n" {
			return fmt.Errorf("open: %v %q", err, plain)
		}
		return nil
	}
	if err := fetch(); err != nil {
		t.Fatal(err)
	}

	// A broken file is refused and the old configuration keeps serving.
	_ = os.WriteFile(cfgFile, []byte(good+"tftp:\n  listn: []\n"), 0o600)
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	refused := d.waitFor("reload refused")
	if !strings.Contains(fmt.Sprint(refused["error"]), "tftp") {
		t.Fatalf("refusal does not say what is wrong: %v", refused)
	}
	if err := fetch(); err != nil {
		t.Fatalf("not serving after a refused reload: %v", err)
	}
	if _, body := get(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(body, "\nsealboot_config_last_reload_successful 0\n") {
		t.Fatal("a refused reload does not set sealboot_config_last_reload_successful to 0")
	}
	// A good file is applied.
	_ = os.WriteFile(cfgFile, []byte(good+"seal:\n  cipher: aes128-gcm\n"), 0o600)
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitFor("configuration reloaded")
	if err := fetch(); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	if _, body := get(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(body, "\nsealboot_config_last_reload_successful 1\n") {
		t.Fatal("an applied reload does not set sealboot_config_last_reload_successful to 1")
	}

	// Settings that need a restart say so, and the running ones stay.
	moved := strings.Replace(good, fmt.Sprint(port), fmt.Sprint(freeUDPPort(t)), 1)
	_ = os.WriteFile(cfgFile, []byte(moved+"watch:\n  settle: 2s\nkeystore:\n  settle: 2s\n"), 0o600)
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	for _, key := range []string{"tftp.listen", "watch.settle", "keystore.settle"} {
		d.waitForField("takes effect at the next restart", "key", key)
	}
	if err := fetch(); err != nil {
		t.Fatalf("after a reload that moves tftp.listen: %v", err)
	}

	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitFor("sealboot stopped")
	if err := <-d.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	d.done <- nil
}

func TestServeStartFailureNamesComponent(t *testing.T) {
	t.Parallel()
	bin := buildSealboot(t)
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cmd := exec.Command(bin, "serve", "--state-dir", t.TempDir(), "--tftp-listen", busy.LocalAddr().String(), "--log-format", "console")
	cmd.Env = append(os.Environ(), "SEALBOOT_ADMIN_SOCKET="+filepath.Join(t.TempDir(), "admin.sock"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("serve started on a port in use")
	}
	want := "sealboot serve: tftp: listen udp4 " + busy.LocalAddr().String() + ": bind: address already in use"
	if !strings.Contains(string(out), want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
}

func TestServeRejectsBadConfigAtStart(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(f, []byte("tftp:\n  listn: [\":69\"]\n"), 0o600)
	code, _, e := runCLI(t, nil, "serve", "--config", f)
	if code != exitFailure || !strings.Contains(e, `unknown key "tftp.listn" (did you mean "tftp.listen"?)`) {
		t.Fatalf("exit %d: %s", code, e)
	}
	code, out, e := runCLI(t, nil, "check", "--config", f)
	if code != exitFailure || !strings.Contains(e, "tftp.listn") || out != "" {
		t.Fatalf("check: exit %d %q %q", code, out, e)
	}
}

// TestServeDefaultsAndMinimal: with no config file (the embedded defaults)
// and with configs/minimal.yaml, serve answers curl tftp:// with the
// config sealed to the device and stops cleanly on SIGTERM. The state
// directory and TFTP address come from the environment, as an operator
// would override them.
func TestServeDefaultsAndMinimal(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	minimal, err := filepath.Abs("../../configs/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id, err := keystore.GenerateDevice("SN7", keystore.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{"embedded default": nil, "minimal.yaml": {"--config", minimal}} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			old := time.Now().Add(-time.Minute)
			for path, data := range map[string][]byte{
				filepath.Join(dir, "keys", "SN7.crt"):    id.CertPEM,
				filepath.Join(dir, "configs", "SN7.cfg"): []byte("hostname r7\n"),
			} {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				_ = os.Chtimes(path, old, old)
			}
			port := freeUDPPort(t)
			d := startDaemon(t, bin, []string{"SEALBOOT_STATE_DIR=" + dir, fmt.Sprintf("SEALBOOT_TFTP_LISTEN=127.0.0.1:%d", port), "SEALBOOT_LOG_FORMAT=json"}, args...)
			d.waitFor("sealboot ready")
			out := filepath.Join(dir, "got.enc")
			if b, err := exec.Command("curl", "-sS", "--fail", "-o", out, fmt.Sprintf("tftp://127.0.0.1:%d/SN7.enc", port)).CombinedOutput(); err != nil {
				t.Fatalf("curl: %v %s", err, b)
			}
			data, _ := os.ReadFile(out)
			if plain, err := cms.Open(id.Key, data); err != nil || string(plain) != "hostname r7\n" {
				t.Fatalf("open: %v %q", err, plain)
			}
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			d.waitFor("sealboot stopped")
			if err := <-d.done; err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
			d.done <- nil
		})
	}
}
