package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
)

// parityFixture is a directory every user may traverse, with the files a
// broken configuration refers to: TLS pairs that load, a valid inventory.
type parityFixture struct {
	dir string
	// owner is the uid and gid the commands run as: nobody's when the
	// test runs as root (so that a root-owned 0600 file is out of reach,
	// as for the service user), the test's own otherwise.
	cred *syscall.Credential
}

// parityCase is a configuration serve refuses, and what check must say.
type parityCase struct {
	name string
	yaml string // %[1]s is the fixture's directory
	// setup prepares the fixture (after the common files exist).
	setup func(t *testing.T, f *parityFixture)
	want  string // in check's output, and its line names the file
	// serveWant is in serve's output (default: want).
	serveWant string
	// rootOnly: the case needs a user other than root to be refused.
	rootOnly bool
}

const parityBase = "state_dir: %[1]s/state\ntftp:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  socket: \"off\"\n"

// TestCheckRefusesWhatServeRefuses: each configuration below is refused by
// serve, and check, run first as the same user, refuses it too, naming the
// problem on a line that starts with the file's name. A configuration that
// passes check and fails serve is a bug; so is one check refuses and serve
// runs (the good one at the end).
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	f := newParityFixture(t)
	bin := filepath.Join(f.dir, "sealboot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dhcp := "dhcp:\n  enabled: true\n  v4:\n    interfaces: [lo]\n    pool: 127.0.0.100-127.0.0.200\n    netmask: 255.0.0.0\n"
	httpOn := "http:\n  listen: [\"127.0.0.1:0\"]\n"
	sztpOn := "sztp:\n  listen: [\"127.0.0.1:0\"]\n  tls_cert: %[1]s/tls.crt\n  tls_key: %[1]s/tls.key\n"
	cases := []parityCase{
		{name: "missing file", yaml: "", want: "no such file or directory"},
		{name: "YAML syntax", yaml: parityBase + "log:\n  level: [info\n", want: "YAML syntax"},
		{name: "unknown key", yaml: parityBase + "tftp_listen: x\n", want: `unknown key "tftp_listen"`},
		{name: "unit-less duration", yaml: parityBase + "shutdown_timeout: 5\n", want: "shutdown_timeout: 5 has no unit"},
		{name: "bad value", yaml: parityBase + "log:\n  level: loud\n", want: "log.level: invalid level"},
		{name: "state_dir cannot be made", yaml: "state_dir: %[1]s/locked/state\ntftp:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  socket: \"off\"\n",
			setup: func(t *testing.T, f *parityFixture) { f.mkdir(t, "locked", 0o555, true) }, want: "state_dir: "},
		{name: "keys_dir unreadable", yaml: parityBase + "keys_dir: %[1]s/keys\n",
			setup: func(t *testing.T, f *parityFixture) { f.mkdir(t, "keys", 0o700, false) }, want: "keys_dir: ", serveWant: "keys directory", rootOnly: true},
		{name: "keys_dir a file", yaml: parityBase + "keys_dir: %[1]s/tls.crt\n", want: "keys_dir: ", serveWant: "keys directory"},
		{name: "configs_dir unreadable", yaml: parityBase + "configs_dir: %[1]s/configs\n",
			setup: func(t *testing.T, f *parityFixture) { f.mkdir(t, "configs", 0o300, true) }, want: "configs_dir: ", serveWant: "configs directory"},
		{name: "images_dir unreadable", yaml: parityBase + httpOn + "images_dir: %[1]s/images\n",
			setup: func(t *testing.T, f *parityFixture) { f.mkdir(t, "images", 0o700, false) }, want: "images_dir: ", serveWant: "images directory", rootOnly: true},
		{name: "http.tls_cert missing", yaml: parityBase + httpOn + "  tls_cert: %[1]s/nope.crt\n  tls_key: %[1]s/tls.key\n", want: "http.tls_cert"},
		{name: "http.tls_cert not PEM", yaml: parityBase + httpOn + "  tls_cert: %[1]s/inventory\n  tls_key: %[1]s/tls.key\n", want: "http.tls_cert"},
		{name: "http key of another certificate", yaml: parityBase + httpOn + "  tls_cert: %[1]s/tls.crt\n  tls_key: %[1]s/other.key\n", want: "private key does not match"},
		{name: "http.tls_key unreadable", yaml: parityBase + httpOn + "  tls_cert: %[1]s/tls.crt\n  tls_key: %[1]s/secret.key\n", want: "tls_key", rootOnly: true},
		{name: "dhcp.inventory missing", yaml: parityBase + dhcp + "  inventory: %[1]s/nope\n", want: "dhcp.inventory"},
		{name: "dhcp.inventory malformed", yaml: parityBase + dhcp + "  inventory: %[1]s/tls.crt\n", want: "dhcp.inventory"},
		{name: "lease journal unreadable", yaml: strings.Replace(parityBase, "/state", "/state-ro", 1) + dhcp,
			setup: func(t *testing.T, f *parityFixture) {
				f.mkdir(t, "state-ro", 0o755, true)
				f.file(t, "state-ro/leases4.journal", "", 0o600, false)
			}, want: "lease journal", rootOnly: true},
		{name: "privileged port", yaml: strings.Replace(parityBase, "127.0.0.1:0", "127.0.0.1:69", 1), want: "port 69 needs CAP_NET_BIND_SERVICE",
			serveWant: "permission denied", rootOnly: true},
		{name: "sztp.tls_cert missing", yaml: parityBase + "sztp:\n  listen: [\"127.0.0.1:0\"]\n  tls_cert: %[1]s/nope.crt\n  tls_key: %[1]s/tls.key\n", want: "sztp.tls_cert"},
		{name: "sztp owner key of another certificate", yaml: parityBase + sztpOn + "  owner_cert: %[1]s/tls.crt\n  owner_key: %[1]s/other.key\n", want: "sztp.owner_cert"},
		{name: "sztp.basic_auth missing", yaml: parityBase + sztpOn + "  basic_auth: %[1]s/passwords\n", want: "sztp.basic_auth"},
		{name: "sztp.trust_anchors a file", yaml: parityBase + sztpOn + "  trust_anchors: %[1]s/tls.crt\n", want: "sztp.trust_anchors", serveWant: "trust anchors"},
		{name: "sztp redirect trust anchor missing", yaml: parityBase + sztpOn + "  redirect:\n    - address: b.example\n      trust_anchor: %[1]s/nope.pem\n", want: "trust_anchor", serveWant: "sztp.redirect"},
		{name: "profile pre_script missing", yaml: parityBase + sztpOn + "profiles:\n  - name: p\n    serials: [SN7]\n    pre_script: %[1]s/nope.sh\n", want: "pre_script"},
		{name: "metrics.listen not an address", yaml: parityBase + "metrics:\n  listen: nowhere\n", want: "metrics.listen"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rootOnly && f.cred == nil {
				t.Skip("needs root, to run check and serve as another user than the files' owner")
			}
			cfg := filepath.Join(f.dir, fmt.Sprintf("case%02d.yaml", i))
			if c.setup != nil {
				c.setup(t, f)
			}
			if c.yaml != "" {
				f.file(t, filepath.Base(cfg), fmt.Sprintf(c.yaml, f.dir), 0o644, true)
			}
			code, out := f.run(t, bin, "check", "--config", cfg)
			if code != 1 || !strings.Contains(out, c.want) {
				t.Fatalf("check: exit %d, want 1 with %q:\n%s", code, c.want, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(line, cfg) {
					t.Errorf("check's line does not start with the file's name: %q", line)
				}
			}
			ready, sout := f.serve(t, bin, cfg)
			if ready {
				t.Fatalf("serve did not refuse it:\n%s", sout)
			}
			sw := c.serveWant
			if sw == "" {
				sw = c.want
			}
			if !strings.Contains(sout, sw) {
				t.Errorf("serve refused it for another reason than %q:\n%s", sw, sout)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		cfg := filepath.Join(f.dir, "good.yaml")
		f.file(t, "good.yaml", fmt.Sprintf(parityBase+httpOn+"  tls_cert: %[1]s/tls.crt\n  tls_key: %[1]s/tls.key\n"+
			"sztp:\n  listen: [\"127.0.0.1:0\"]\n  tls_cert: %[1]s/tls.crt\n  tls_key: %[1]s/tls.key\n", f.dir+"/good"), 0o644, true)
		for _, n := range []string{"tls.crt", "tls.key"} {
			f.mkdir(t, "good", 0o755, true)
			data, _ := os.ReadFile(filepath.Join(f.dir, n))
			f.file(t, "good/"+n, string(data), 0o644, true)
		}
		if code, out := f.run(t, bin, "check", "--config", cfg); code != 0 {
			t.Fatalf("check: exit %d:\n%s", code, out)
		}
		if ready, out := f.serve(t, bin, cfg); !ready {
			t.Fatalf("serve refused what check accepted:\n%s", out)
		}
	})
}

// newParityFixture makes the fixture: under /tmp (not the test's own
// temporary directory, which only root may enter), with a TLS pair, a key
// of another pair, a root-only key, and a valid inventory.
func newParityFixture(t *testing.T) *parityFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "sealboot-parity-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &parityFixture{dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("running as root, and no user nobody to run check and serve as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		f.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	ca, err := keystore.GenerateAuthority("parity", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("server", keystore.P256, keystore.IssueOptions{ServerIPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue("other", keystore.P256, keystore.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.file(t, "tls.crt", string(srv.CertPEM), 0o644, true)
	f.file(t, "tls.key", string(srv.KeyPEM), 0o644, true)
	f.file(t, "other.key", string(other.KeyPEM), 0o644, true)
	f.file(t, "secret.key", string(srv.KeyPEM), 0o600, false)
	f.file(t, "inventory", "02:00:00:00:00:01 SN1\n", 0o644, true)
	f.mkdir(t, "state", 0o755, true) // the service's, as systemd's StateDirectory= makes it
	return f
}

// file writes name in the fixture with mode, owned by the commands' user
// when mine, by the test's otherwise.
func (f *parityFixture) file(t *testing.T, name, data string, mode os.FileMode, mine bool) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	f.own(t, p, mode, mine)
}

func (f *parityFixture) mkdir(t *testing.T, name string, mode os.FileMode, mine bool) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	f.own(t, p, mode, mine)
}

func (f *parityFixture) own(t *testing.T, p string, mode os.FileMode, mine bool) {
	t.Helper()
	if mine && f.cred != nil {
		if err := os.Chown(p, int(f.cred.Uid), int(f.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// command runs the binary as the fixture's user.
func (f *parityFixture) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = f.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + f.dir}
	if f.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.cred}
	}
	return cmd
}

func (f *parityFixture) run(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard
	defer cancel()
	out, err := f.command(ctx, bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// serve runs serve on cfg until it is ready (then stops it) or exits, and
// says which.
func (f *parityFixture) serve(t *testing.T, bin, cfg string) (ready bool, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard
	defer cancel()
	var buf syncBuffer
	cmd := f.command(ctx, bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return false, buf.String()
		case <-time.After(50 * time.Millisecond):
		}
		if strings.Contains(buf.String(), "sealboot ready") {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return true, buf.String()
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCheckAsUser: as root, --user checks the service user's permission
// bits too: a keys directory only root may read is refused for nobody.
func TestCheckAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: --user judges another user's access")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	t.Parallel()
	dir, err := os.MkdirTemp("", "sealboot-asuser-") // the test's own is root's only
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sealboot.yaml")
	y := fmt.Sprintf("state_dir: %s\nkeys_dir: %s\ntftp:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  socket: \"off\"\n", dir, keys)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, e := runCLI(t, nil, "check", "--config", cfg); code != exitOK {
		t.Fatalf("as root: exit %d\n%s%s", code, out, e)
	}
	code, _, e := runCLI(t, nil, "check", "--user", "nobody", "--config", cfg)
	if code != exitFailure || !strings.Contains(e, cfg+":2: keys_dir: "+keys+": as user nobody: ") {
		t.Fatalf("--user nobody: exit %d\n%s", code, e)
	}
}

// TestConfigFileFromSystemd: without --config, the file is
// $CONFIGURATION_DIRECTORY/sealboot.yaml when it exists there.
func TestConfigFileFromSystemd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "CONFIGURATION_DIRECTORY" {
				return v
			}
			return ""
		}
	}
	if got := configFile("", env(dir)); got != "" {
		t.Errorf("no file there: %q, want the built-in defaults", got)
	}
	p := filepath.Join(dir, "sealboot.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := configFile("", env(dir+":/etc/other")); got != p {
		t.Errorf("got %q, want %q", got, p)
	}
	if got := configFile("given.yaml", env(dir)); got != "given.yaml" {
		t.Errorf("--config: got %q", got)
	}
}

// TestCheckWarnsOfFilesServeSkips: what serve would skip with a warning (a
// config that is a symbolic link, a certificate that does not parse) is a
// warning from check, on a line with the file's name; check still passes.
func TestCheckWarnsOfFilesServeSkips(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"keys", "configs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour) // settled
	crt := filepath.Join(dir, "keys", "SN1.crt")
	if err := os.WriteFile(crt, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chtimes(crt, old, old), os.Symlink("/etc/passwd", filepath.Join(dir, "configs", "SN2.cfg"))); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sealboot.yaml")
	y := fmt.Sprintf("state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  socket: \"off\"\n", dir)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, e := runCLI(t, nil, "check", "--config", cfg)
	if code != exitOK || out != cfg+": OK\n" {
		t.Fatalf("exit %d\n%s%s", code, out, e)
	}
	for _, want := range []string{
		cfg + ": warning: certificate invalid file=SN1.crt reason=no certificate found",
		cfg + ": warning: config invalid file=SN2.cfg reason=a symbolic link",
	} {
		if !strings.Contains(e, want) {
			t.Errorf("no %q in:\n%s", want, e)
		}
	}
}

// TestCheckWarningsAreInert: a file dropped into keys_dir whose name holds
// an escape sequence or a newline is warned about with those characters
// as '?', not written to the operator's terminal as they are.
func TestCheckWarningsAreInert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"keys", "configs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour) // settled
	crt := filepath.Join(dir, "keys", "x\x1b]0;owned\x07\x1b[2J\nforged.crt")
	if err := os.WriteFile(crt, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(crt, old, old); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sealboot.yaml")
	y := fmt.Sprintf("state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  socket: \"off\"\n", dir)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, e := runCLI(t, nil, "check", "--config", cfg)
	if code != exitOK || !strings.Contains(e, "file=x?]0;owned??[2J?forged.crt") {
		t.Fatalf("exit %d; no warning naming the file with '?' for its controls:\n%q", code, e)
	}
	if strings.ContainsAny(e, "\x1b\x07") {
		t.Errorf("check wrote a file name's control characters:\n%q", e)
	}
}
