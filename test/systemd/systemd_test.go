package systemdtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
	"github.com/sealboot/sealboot/test/netns"
)

// serverConfig is /etc/sealboot/sealboot.yaml in the machine: no state_dir,
// so that it comes from the unit's StateDirectory= ($STATE_DIRECTORY).
const serverConfig = `log:
  level: %s
keystore:
  settle: 50ms
watch:
  settle: 50ms
tftp:
  listen: [":69"]
  timeout: 1s
dhcp:
  enabled: true
  v4:
    interfaces: [sb0]
    pool: 192.0.2.100-192.0.2.199
    netmask: 255.255.255.0
    router: 192.0.2.1
`

// TestUnderSystemd boots systemd as PID 1 with the shipped unit installed as
// systemd/README.md says, and checks what an operator relies on: start and
// READY=1, the status text, state in /var/lib/sealboot without state_dir,
// a device booting over DHCP and TFTP through the sandbox, reload with a
// good file and with a broken one (refused: systemctl reload fails, the
// old configuration keeps serving), the watchdog, and stop.
func TestUnderSystemd(t *testing.T) {
	m, dev, bin := bootWithUnit(t, map[string]string{
		"../../systemd/sealboot.sysctl": "usr/lib/sysctl.d/60-sealboot.conf",
	})
	dir := t.TempDir() // the test's own files: device keys

	// Install the configuration as the README does: the group is sealboot
	// (systemd-sysusers made it at boot).
	m.mustRun(t, nil, "install", "-d", "-m", "0750", "-g", "sealboot", "/etc/sealboot")
	m.mustRun(t, []byte(fmt.Sprintf(serverConfig, "info")), "install", "-m", "0640", "-g", "sealboot", "/dev/stdin", "/etc/sealboot/sealboot.yaml")
	m.mustRun(t, nil, "systemctl", "daemon-reload")

	t.Run("start", func(t *testing.T) {
		m.mustRun(t, nil, "systemctl", "start", "sealboot")
		if s := m.show("sealboot", "ActiveState"); s != "active" {
			t.Fatalf("ActiveState %q after start; journal:\n%s", s, m.journal())
		}
		if s := m.show("sealboot", "StatusText"); s != "serving" {
			t.Errorf("StatusText %q, want serving (READY=1 with STATUS=serving)", s)
		}
		starting := m.event(t, "sealboot starting")
		if starting["state_dir"] != "/var/lib/sealboot" || starting["keys_dir"] != "/var/lib/sealboot/keys" {
			t.Errorf("sealboot starting: state_dir %v, keys_dir %v; want /var/lib/sealboot from $STATE_DIRECTORY", starting["state_dir"], starting["keys_dir"])
		}
		for d, want := range map[string]os.FileMode{"keys": 0o750, "configs": 0o700, "images": 0o750} {
			fi, err := os.Stat(m.path("/var/lib/sealboot/" + d))
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("/var/lib/sealboot/%s: %v, mode %v; want %v", d, err, fi.Mode().Perm(), want)
			}
		}
	})

	t.Run("device boots over DHCP and TFTP", func(t *testing.T) {
		key := provision(t, m, dir, "SYSD1")
		res := bootDevice(t, dev, bin, "SYSD1", key)
		if !res.Installed() {
			t.Fatalf("device: %+v\njournal:\n%s", res, m.journal())
		}
		out, err := m.run(nil, "sealboot", "status", "SYSD1")
		if err != nil || !strings.Contains(out, "served") {
			t.Errorf("sealboot status SYSD1 (root, socket in $RUNTIME_DIRECTORY): %v\n%s", err, out)
		}
	})

	t.Run("reload", func(t *testing.T) {
		pid := m.show("sealboot", "MainPID")
		m.mustRun(t, []byte(fmt.Sprintf(serverConfig, "debug")), "install", "-m", "0640", "-g", "sealboot", "/dev/stdin", "/etc/sealboot/sealboot.yaml")
		m.mustRun(t, nil, "systemctl", "reload", "sealboot")
		m.event(t, "configuration reloaded")

		broken := fmt.Sprintf(serverConfig, "loud")
		m.mustRun(t, []byte(broken), "install", "-m", "0640", "-g", "sealboot", "/dev/stdin", "/etc/sealboot/sealboot.yaml")
		out, err := m.run(nil, "systemctl", "reload", "sealboot")
		if err == nil {
			t.Fatalf("systemctl reload of a broken file succeeded:\n%s\njournal:\n%s", out, m.journal())
		}
		j := m.journal()
		if !strings.Contains(j, "reload refused") || !strings.Contains(j, `sealboot.yaml:2: log.level: invalid level`) {
			t.Errorf("the journal does not say why the reload was refused:\n%s", j)
		}
		if s, p := m.show("sealboot", "ActiveState"), m.show("sealboot", "MainPID"); s != "active" || p != pid {
			t.Fatalf("after a refused reload: %s, MainPID %s (was %s)", s, p, pid)
		}
		// The running configuration keeps serving: another device boots.
		key := provision(t, m, dir, "SYSD2")
		if res := bootDevice(t, dev, bin, "SYSD2", key); !res.Installed() {
			t.Fatalf("device after a refused reload: %+v", res)
		}
		m.mustRun(t, []byte(fmt.Sprintf(serverConfig, "info")), "install", "-m", "0640", "-g", "sealboot", "/dev/stdin", "/etc/sealboot/sealboot.yaml")
	})

	t.Run("watchdog", func(t *testing.T) {
		// The shipped 30s, shortened by a drop-in so that the test does
		// not wait for it; sealboot pings at half of it.
		m.mustRun(t, []byte("[Service]\nWatchdogSec=3s\nRestartSec=1s\n"), "install", "-D", "-m", "0644", "/dev/stdin", "/etc/systemd/system/sealboot.service.d/watchdog.conf")
		m.mustRun(t, nil, "systemctl", "daemon-reload")
		m.mustRun(t, nil, "systemctl", "restart", "sealboot")
		first := m.show("sealboot", "WatchdogTimestampMonotonic")
		waitFor(t, "a watchdog ping", func() bool { return m.show("sealboot", "WatchdogTimestampMonotonic") != first })
		// A hung process (stopped) misses its pings: systemd kills and
		// restarts it.
		pid, restarts := m.show("sealboot", "MainPID"), m.show("sealboot", "NRestarts")
		m.mustRun(t, nil, "kill", "-STOP", pid)
		waitFor(t, "a restart after the watchdog timeout", func() bool {
			return m.show("sealboot", "NRestarts") != restarts && m.show("sealboot", "ActiveState") == "active"
		})
		if !strings.Contains(m.journal(), "Watchdog timeout") {
			t.Errorf("no watchdog timeout in the journal:\n%s", m.journal())
		}
		m.mustRun(t, nil, "rm", "/etc/systemd/system/sealboot.service.d/watchdog.conf")
		m.mustRun(t, nil, "systemctl", "daemon-reload")
	})

	t.Run("stop", func(t *testing.T) {
		m.mustRun(t, nil, "systemctl", "stop", "sealboot")
		if s := m.show("sealboot", "ActiveState"); s != "inactive" {
			t.Errorf("ActiveState %q after stop", s)
		}
		if r := m.show("sealboot", "Result"); r != "success" {
			t.Errorf("Result %q after stop, want success (a clean exit on SIGTERM)", r)
		}
		if _, err := os.Stat(m.path("/run/sealboot")); !os.IsNotExist(err) {
			t.Errorf("/run/sealboot after stop: %v (RuntimeDirectory= removes it)", err)
		}
		m.event(t, "sealboot stopped")
	})
}

// bootWithUnit boots systemd as PID 1 over the cached root with sealboot,
// the shipped unit and its sysusers file installed, plus extra (source →
// path in the root), and returns the machine, the device's link to it and
// the sealboot binary built for the test.
func bootWithUnit(t *testing.T, extra map[string]string) (*machine, *netns.Link, string) {
	t.Helper()
	lower := needMachine(t)
	dir := t.TempDir()
	upper := filepath.Join(dir, "upper")
	bin := buildSealboot(t, dir)
	files := map[string]string{
		bin:                               "usr/local/bin/sealboot",
		"../../systemd/sealboot.service":  "etc/systemd/system/sealboot.service",
		"../../systemd/sealboot.sysusers": "usr/lib/sysusers.d/sealboot.conf",
	}
	maps.Copy(files, extra)
	install(t, upper, files)
	m, err := boot(lower, upper, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.shutdown)
	if err := m.waitBooted(); err != nil {
		out, _ := m.run(nil, "systemctl", "--failed", "--no-pager")
		t.Fatalf("%v\n%s\n%s", err, out, m.console.String())
	}
	return m, network(t, m), bin
}

// needMachine skips unless systemd can be booted here, and returns the
// cached Debian root.
func needMachine(t *testing.T) string {
	t.Helper()
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, p := range []string{"unshare", "nsenter", "chroot", "mount"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("skipping: %s not installed (util-linux, coreutils)", p)
		}
	}
	if _, err := os.Stat("/var/cache/sealboot-test"); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			t.Skip("skipping: no cached Debian root and no debootstrap to build one (Debian package debootstrap; see test/deps.sh)")
		}
	}
	out, err := exec.Command("./rootfs.sh").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Skipf("skipping: cannot build the minimal Debian root (no Debian mirror?): %s", msg)
	}
	lower := strings.TrimSpace(string(out))
	probe := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		_ = os.Mkdir(filepath.Join(probe, d), 0o755)
	}
	opts := fmt.Sprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", probe, probe, probe)
	if out, err := exec.Command("unshare", "--mount", "mount", "-t", "overlay", "overlay", "-o", opts, probe+"/m").CombinedOutput(); err != nil {
		t.Skipf("skipping: no overlay file system here: %v %s", err, out)
	}
	return lower
}

func buildSealboot(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sealboot")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/sealboot")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static: the root has no Go toolchain's libc expectations
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sealboot: %v\n%s", err, out)
	}
	return bin
}

// install copies files into the upper layer of the machine's root.
func install(t *testing.T, upper string, files map[string]string) {
	t.Helper()
	for src, dst := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(dst, "usr/local/bin/") {
			mode = 0o755
		}
		p := filepath.Join(upper, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// network joins the machine to a device namespace: sb0 (192.0.2.1/24)
// inside the machine, a link with no address in the device's namespace.
func network(t *testing.T, m *machine) *netns.Link {
	t.Helper()
	name := netns.RandomName("sbsd")
	if out, err := exec.Command("ip", "netns", "attach", name, fmt.Sprint(m.pid)).CombinedOutput(); err != nil {
		t.Fatalf("ip netns attach: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	srv := &netns.Link{NS: &netns.NS{Name: name}, Name: "sb0", Addrs: []string{"192.0.2.1/24"}}
	dev := &netns.Link{NS: netns.New(t, "sbdv")}
	if err := netns.Veth(srv, dev); err != nil {
		t.Fatal(err)
	}
	if err := srv.NS.Run("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	return dev
}

// provision makes a device: its key on the host, its certificate and a
// config in the machine's /var/lib/sealboot, written as the sealboot user
// would. It returns the key's path once sealboot has taken the config.
func provision(t *testing.T, m *machine, dir, serial string) string {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, serial+".key")
	if err := os.WriteFile(key, id.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	m.mustRun(t, id.CertPEM, "install", "-m", "0640", "-o", "sealboot", "-g", "sealboot", "/dev/stdin", "/var/lib/sealboot/keys/"+serial+".crt")
	m.mustRun(t, []byte("hostname "+serial+"\n"), "install", "-m", "0600", "-o", "sealboot", "-g", "sealboot", "/dev/stdin", "/var/lib/sealboot/configs/"+serial+".cfg")
	waitFor(t, serial+"'s config ready", func() bool {
		for _, line := range strings.Split(m.journal(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["serial"] == serial && strings.Contains(fmt.Sprint(e["msg"]), "config ready") {
				return true
			}
		}
		return false
	})
	return key
}

// bootDevice boots the emulated Juniper device on dev.
func bootDevice(t *testing.T, dev *netns.Link, bin, serial, key string) device.Result {
	t.Helper()
	out, _ := dev.NS.Command(t.Context(), bin, "device", "boot", "--iface", dev.Name, "--vendor", "juniper",
		"--serial", serial, "--key", key, "--dhcp-timeout", "10s", "--tftp-timeout", "1s", "--max-attempts", "3", "--retry", "1s,1s").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		var res device.Result
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &res) == nil {
			return res
		}
	}
	t.Fatalf("no result from device boot:\n%s", out)
	return device.Result{}
}

func (m *machine) mustRun(t *testing.T, stdin []byte, argv ...string) string {
	t.Helper()
	out, err := m.run(stdin, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s\njournal:\n%s", strings.Join(argv, " "), err, out, m.journal())
	}
	return out
}

// journal is sealboot's journal in the machine, messages only.
func (m *machine) journal() string {
	out, _ := m.run(nil, "journalctl", "-u", "sealboot", "--no-pager", "-o", "cat")
	return out
}

// event returns the last JSON line of sealboot's journal whose msg is msg.
func (m *machine) event(t *testing.T, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	waitFor(t, msg+" in the journal", func() bool {
		for _, line := range strings.Split(m.journal(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
				found = e
			}
		}
		return found != nil
	})
	return found
}

// waitFor polls cond; the deadline is only a hang guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
