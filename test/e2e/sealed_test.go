package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// centralDevice is a device as the central side knows it: its key (the
// device's, for the test to play it), certificate and plaintext config with
// a secret marker, all outside the POP's directories.
type centralDevice struct {
	serial, secret, config string
	key, cert, plain       string // files in the central directory
}

func newCentralDevice(t *testing.T, central, serial string, kt keystore.KeyType) centralDevice {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	d := centralDevice{serial: serial, secret: "SECRET-" + serial + "-" + hex.EncodeToString(b)}
	d.config = fmt.Sprintf("hostname %s\nradius-server host 192.0.2.10 key %s\n", serial, d.secret)
	d.key, d.cert, d.plain = filepath.Join(central, serial+".key"), filepath.Join(central, serial+".crt"), filepath.Join(central, serial+".cfg")
	for f, data := range map[string][]byte{d.key: id.KeyPEM, d.cert: id.CertPEM, d.plain: []byte(d.config)} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func sh(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// TestSealedConfigsAtRest: a POP whose configs directory (readable by
// anyone) holds only sealed files, presealed to devices and sealed to the
// appliance, whose key comes from a systemd credentials directory
// ($CREDENTIALS_DIRECTORY, set as systemd sets it). Devices get configs
// over TFTP and HTTP that `openssl cms -decrypt` opens with their keys;
// files sealed to the wrong key (an old device key after an RMA, another
// POP's appliance) are invalid with the reason and never served; no
// device's secret is anywhere in the state directory, the configs
// directory, the log or the server's environment; the open directory is
// not warned about.
func TestSealedConfigsAtRest(t *testing.T) {
	need(t, "dhclient", "curl", "openssl", "grep")
	l := newLab(t)
	central := t.TempDir()

	// The POP's appliance key, made by sealboot, handed over as systemd
	// hands credentials: files named after the credential, read-only.
	creds := filepath.Join(l.dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	sh(t, sealbootBin, "keys", "appliance", "init", "--key", filepath.Join(creds, "appliance_key"), "--cert", filepath.Join(creds, "appliance_cert"), "--name", "pop1-a")
	applianceCert := filepath.Join(central, "pop1-a.crt")
	data, _ := os.ReadFile(filepath.Join(creds, "appliance_cert"))
	if err := os.WriteFile(applianceCert, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"appliance_key", "appliance_cert"} {
		_ = os.Chmod(filepath.Join(creds, f), 0o400)
	}
	sh(t, sealbootBin, "keys", "appliance", "init", "--key", filepath.Join(central, "pop2.key"), "--cert", filepath.Join(central, "pop2.crt"), "--name", "pop2-a")

	cfgPath := l.config("http:\n  listen: [\"192.0.2.1:80\"]\n")
	if err := os.Chmod(l.configsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, l.srv.NS, cfgPath, l.socket(), []string{"CREDENTIALS_DIRECTORY=" + creds})
	s.wait("appliance key loaded", func(m map[string]any) bool { return m["source"] == "systemd credential appliance_key" })

	pre := newCentralDevice(t, central, "PRE01", keystore.P256)
	app1 := newCentralDevice(t, central, "APP01", keystore.RSA2048)
	app2 := newCentralDevice(t, central, "APP02", keystore.P256)
	rma := newCentralDevice(t, central, "RMA01", keystore.P256)
	pop2 := newCentralDevice(t, central, "POP2DEV", keystore.RSA2048)
	all := []centralDevice{pre, app1, app2, rma, pop2}
	for _, d := range all[:3] {
		sh(t, sealbootBin, "keys", "--dir", l.keysDir(), "import", d.cert)
	}
	// RMA01 was replaced: its new certificate is pinned; the file on
	// disk is still sealed to the old one.
	rmaNew := newCentralDevice(t, t.TempDir(), "RMA01", keystore.P256)
	sh(t, sealbootBin, "keys", "--dir", l.keysDir(), "import", rmaNew.cert)
	sh(t, sealbootBin, "keys", "--dir", l.keysDir(), "import", pop2.cert)

	// The central side seals, with openssl or sealboot, and ships.
	cd := l.configsDir()
	sh(t, "openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "PEM", "-in", pre.plain, "-out", filepath.Join(cd, "PRE01.enc"), "-recip", pre.cert)
	sh(t, sealbootBin, "seal", "--cert", applianceCert, "--in", app1.plain, "--out", filepath.Join(cd, "APP01.cfg.cms"))
	sh(t, "openssl", "cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-in", app2.plain, "-out", filepath.Join(cd, "APP02.cfg.cms"), "-recip", applianceCert)
	sh(t, "openssl", "cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM", "-in", rma.plain, "-out", filepath.Join(cd, "RMA01.enc"), "-recip", rma.cert)
	sh(t, sealbootBin, "seal", "--cert", filepath.Join(central, "pop2.crt"), "--in", pop2.plain, "--out", filepath.Join(cd, "POP2DEV.cfg.cms"))

	for _, d := range all[:3] {
		s.wait("config ready", func(m map[string]any) bool { return m["serial"] == d.serial })
	}
	for serial, want := range map[string]string{
		"RMA01":   `sealed to another key: recipients [kari issuer "CN=RMA01" serial `,
		"POP2DEV": `sealed to another key: recipients [kari issuer "CN=pop2-a" serial `,
	} {
		ev := s.wait("config invalid", func(m map[string]any) bool { return m["serial"] == serial })
		if r, _ := ev["reason"].(string); !strings.HasPrefix(r, want) {
			t.Errorf("%s: reason %q, want it to start %q", serial, r, want)
		}
		t.Logf("%s: %s", serial, s.lineOf(ev))
	}

	devs := l.segment(t, 4)
	for i, d := range []centralDevice{pre, app1, app2} {
		ip := l.lease(t, devs[i], d.serial)
		for _, url := range []string{"tftp://192.0.2.1/" + d.serial + ".enc", "http://192.0.2.1/" + d.serial + ".enc"} {
			out := filepath.Join(central, d.serial+".fetched")
			run(t, devs[i].NS, false, "curl", "-sS", "--fail", "-o", out, url)
			plain := run(t, devs[i].NS, false, "openssl", "cms", "-decrypt", "-inform", "PEM", "-in", out, "-inkey", d.key)
			if plain != d.config {
				t.Fatalf("%s from %s (%s): openssl decrypted %q", d.serial, url, ip, plain)
			}
		}
	}
	// Sealed to the wrong key: never served.
	l.lease(t, devs[3], "RMA01")
	out := filepath.Join(central, "RMA01.fetched")
	run(t, devs[3].NS, true, "curl", "-sS", "--fail", "-o", out, "http://192.0.2.1/RMA01.enc")
	run(t, devs[3].NS, true, "curl", "-sS", "--fail", "-o", out, "tftp://192.0.2.1/RMA01.enc")
	if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
		t.Fatalf("RMA01's file sealed to its old key was served: %d bytes", len(b))
	}
	for _, ev := range append(s.events("tftp.fetch"), s.events("http.fetch")...) {
		if ev["serial"] == "RMA01" && (ev["outcome"] != "not_found" || !strings.Contains(ev["reason"].(string), "sealed to another key")) {
			t.Errorf("RMA01 fetch: %v %v", ev["outcome"], ev["reason"])
		}
		if ev["serial"] == "PRE01" && ev["outcome"] == "served" && ev["encrypted"] != true {
			t.Errorf("PRE01 served unencrypted: %v", ev)
		}
	}

	// PRE01 is replaced (RMA) while sealboot runs: once its new
	// certificate is pinned, its presealed file is invalid and no longer
	// served, even to the address leased to PRE01.
	preNew := newCentralDevice(t, t.TempDir(), "PRE01", keystore.P256)
	sh(t, sealbootBin, "keys", "--dir", l.keysDir(), "import", "--replace", preNew.cert)
	ev := s.wait("config invalid", func(m map[string]any) bool { return m["serial"] == "PRE01" })
	if r, _ := ev["reason"].(string); !strings.HasPrefix(r, "sealed to another key: recipients [kari issuer \"CN=PRE01\"") {
		t.Fatalf("PRE01 after its RMA: %q", r)
	}
	gone := filepath.Join(central, "PRE01.after-rma")
	run(t, devs[0].NS, true, "curl", "-sS", "--fail", "-o", gone, "tftp://192.0.2.1/PRE01.enc")
	if b, err := os.ReadFile(gone); err == nil && len(b) > 0 {
		t.Fatalf("PRE01's file was served after its RMA: %d bytes", len(b))
	}

	// Nothing of any device's secret at rest in the POP, in its log or in
	// its environment.
	pid := serverPID(t, s)
	logFile := filepath.Join(central, "sealboot.log")
	if err := os.WriteFile(logFile, []byte(s.logText()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-r", "-a", "-l", "-F"}
	for _, d := range all {
		args = append(args, "-e", d.secret)
	}
	args = append(args, filepath.Join(l.dir, "state"), l.configsDir(), logFile, fmt.Sprintf("/proc/%d/environ", pid))
	cmd := exec.Command("grep", args...)
	found, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 1 || len(found) > 0 {
		t.Fatalf("grep -r of the secrets: exit %d (%v), found in:\n%s", code, err, found)
	}
	// The greps would find them where they are.
	if err := exec.Command("grep", "-q", "-F", pre.secret, pre.plain).Run(); err != nil {
		t.Fatalf("the secret marker is not found where it is: %v", err)
	}
	if strings.Contains(s.logText(), "open to other users") {
		t.Fatal("a configs directory of sealed files only was warned about")
	}
}

// serverPID is the PID of sealboot itself (ip netns exec execs it, but
// look through a wrapper if there is one).
func serverPID(t *testing.T, s *server) int {
	t.Helper()
	pid := s.cmd.Process.Pid
	for range 3 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "sealboot" {
			return pid
		}
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		f := strings.Fields(string(kids))
		if len(f) == 0 {
			break
		}
		pid, _ = strconv.Atoi(f[0])
	}
	t.Fatalf("no sealboot process under %d", s.cmd.Process.Pid)
	return 0
}

// lineOf is the log line of an event, as JSON.
func (s *server) lineOf(ev map[string]any) string {
	b, _ := json.Marshal(ev)
	return string(b)
}
