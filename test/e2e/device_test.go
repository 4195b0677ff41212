package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
)

// deviceResult runs `sealboot device boot` in the client namespace and
// returns its JSON result.
func (l *lab) boot(t *testing.T, args ...string) device.Result {
	t.Helper()
	argv := append([]string{sealbootBin, "device", "boot", "--iface", l.cli.Name, "--dhcp-timeout", "6s", "--tftp-timeout", "500ms"}, args...)
	return parseResult(t, run(t, l.cli.NS, true, argv...))
}

// parseResult finds the JSON result line in `sealboot device boot` output.
func parseResult(t *testing.T, out string) device.Result {
	t.Helper()
	var res device.Result
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &res) == nil {
			return res
		}
	}
	t.Fatalf("no result from device boot:\n%s", out)
	return res
}

// provision makes a device: key for the device side, certificate in the
// server's keystore (unless noCert), plaintext config in its configs dir.
// With a running server s, it returns once the server has taken the config.
func (l *lab) provision(t *testing.T, s *server, serial string, kt keystore.KeyType, config string, noCert bool) (keyPath string) {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	keyPath = filepath.Join(l.dir, serial+".key")
	if err := os.WriteFile(keyPath, id.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if !noCert {
		if err := os.WriteFile(filepath.Join(l.keysDir(), serial+".crt"), id.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(l.configsDir(), serial+".cfg"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			want := "config ready"
			if noCert {
				want = "config waiting_for_certificate"
			}
			s.wait(want, func(m map[string]any) bool { return m["serial"] == serial })
		}
	}
	return keyPath
}

func v6Config(l *lab) string {
	return fmt.Sprintf("  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", l.srv.Name)
}

// TestDeviceHappyPath: an RSA-2048 and a P-256 device, over DHCPv4 and
// DHCPv6, install exactly the operator's plaintext.
func TestDeviceHappyPath(t *testing.T) {
	l := newLab(t)
	s := l.start(l.config(v6Config(l)))
	if err := l.cli.WaitLinkLocal(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		serial, vendor string
		kt             keystore.KeyType
		v6             bool
	}{
		{"JNRSA2048", device.VendorJuniper, keystore.RSA2048, false},
		{"JPEP256", device.VendorArista, keystore.P256, false},
		{"NSRSA2048", device.VendorNokia, keystore.RSA2048, true},
		{"NSP256", device.VendorNokia, keystore.P256, true},
		{"FOCP256", device.VendorCiscoNXOS, keystore.P256, true}, // DUID-EN, enterprise 9, with Cisco's trailing NUL
	} {
		config := fmt.Sprintf("hostname %s\nradius-server key s3cr3t-%s\n", tc.serial, tc.serial)
		key := l.provision(t, s, tc.serial, tc.kt, config, false)
		installed := filepath.Join(l.dir, tc.serial+".installed")
		args := []string{"--serial", tc.serial, "--key", key, "--vendor", tc.vendor, "--require-encrypted", "--install", installed, "--max-attempts", "1"}
		if tc.v6 {
			args = append(args, "--v6")
		}
		res := l.boot(t, args...)
		if !res.Installed() || !res.Encrypted {
			t.Fatalf("%s: %+v", tc.serial, res)
		}
		got, _ := os.ReadFile(installed)
		if !bytes.Equal(got, []byte(config)) {
			t.Fatalf("%s installed %q, want %q", tc.serial, got, config)
		}
		t.Logf("%s (v6=%v) installed from %s: dhcp %.1f ms, tftp %.1f ms, decrypt %.2f ms", tc.serial, tc.v6, res.Server, res.DHCPMs, res.TFTPMs, res.DecryptMs)
	}
}

// TestConfigDroppedWhileRetrying: RFC 8886 4.3 — the device is racked
// before its config exists, keeps retrying, and gets it on the attempt
// after the operator drops it.
func TestConfigDroppedWhileRetrying(t *testing.T) {
	l := newLab(t)
	s := l.start(l.config(""))
	key := l.provision(t, s, "LATE01", keystore.P256, "", false)
	done := make(chan device.Result, 1)
	go func() {
		done <- l.boot(t, "--serial", "LATE01", "--key", key, "--vendor", device.VendorJuniper, "--retry", "300ms", "--max-attempts", "60")
	}()
	s.wait("tftp fetch not_found", func(m map[string]any) bool { return m["serial"] == "LATE01" })
	_ = os.WriteFile(filepath.Join(l.configsDir(), "LATE01.cfg"), []byte("hostname late\n"), 0o600)
	res := <-done
	if !res.Installed() || res.Attempts < 2 {
		t.Fatalf("%+v", res)
	}
	t.Logf("installed on attempt %d after the config was dropped", res.Attempts)
}

// TestNoCertificateNeverPlaintext: a device whose certificate is not in the
// keystore keeps retrying and never receives its config in the clear.
func TestNoCertificateNeverPlaintext(t *testing.T) {
	l := newLab(t)
	s := l.start(l.config(""))
	key := l.provision(t, s, "NOCERT1", keystore.P256, "hostname secret-bearing\n", true)
	res := l.boot(t, "--serial", "NOCERT1", "--key", key, "--vendor", device.VendorJuniper, "--retry", "100ms", "--max-attempts", "3")
	if res.Installed() || res.Outcome != device.OutcomeTFTPFailed || res.Attempts != 3 || res.Bytes != 0 {
		t.Fatalf("%+v", res)
	}
	for i := 0; i < 3; i++ { // one refusal per attempt, none served
		s.waitNth("tftp fetch no_certificate", i)
	}
	if n := len(filter(s.events("tftp.fetch"), "outcome", "served")); n != 0 {
		t.Fatalf("%d served events", n)
	}
}

// TestWrongKeyFailsToDecrypt: the device's key does not match the
// certificate the operator imported.
func TestWrongKeyFailsToDecrypt(t *testing.T) {
	l := newLab(t)
	s := l.start(l.config(""))
	l.provision(t, s, "WRONG1", keystore.P256, "hostname w\n", false)
	other, _ := keystore.GenerateDevice("WRONG1", keystore.P256)
	key := filepath.Join(l.dir, "other.key")
	_ = os.WriteFile(key, other.KeyPEM, 0o600)
	res := l.boot(t, "--serial", "WRONG1", "--key", key, "--vendor", device.VendorJuniper, "--retry", "100ms", "--max-attempts", "2")
	if res.Outcome != device.OutcomeDecryptFailed || res.Attempts != 2 || !strings.Contains(res.Error, "decryption failed") {
		t.Fatalf("%+v", res)
	}
}

// TestStrangerRefused: another address on the segment asking for a
// device's file is refused by the binding check (RFC 8886 2.1).
func TestStrangerRefused(t *testing.T) {
	need(t, "curl")
	l := newLab(t)
	s := l.start(l.config(""))
	key := l.provision(t, s, "VICTIM1", keystore.P256, "hostname v\nsecret v\n", false)
	if res := l.boot(t, "--serial", "VICTIM1", "--key", key, "--vendor", device.VendorJuniper, "--max-attempts", "1", "--keep-address"); !res.Installed() {
		t.Fatalf("device: %+v", res)
	}
	run(t, l.cli.NS, false, "ip", "addr", "add", "192.0.2.250/24", "dev", l.cli.Name)
	out := run(t, l.cli.NS, true, "curl", "-sS", "--interface", "192.0.2.250", "-o", filepath.Join(l.dir, "stolen"), "tftp://192.0.2.1/VICTIM1.enc")
	if b, _ := os.ReadFile(filepath.Join(l.dir, "stolen")); len(b) > 0 {
		t.Fatalf("stranger got %d bytes (%s)", len(b), out)
	}
	ev := s.wait("tftp fetch binding_mismatch", nil)
	if ev["serial"] != "VICTIM1" || !strings.HasPrefix(ev["remote"].(string), "192.0.2.250:") {
		t.Fatalf("event %v", ev)
	}
}

// TestCiscoAutoInstall: an IOS-XE device told to fetch network-confg gets
// its own config, found through its DHCP binding.
func TestCiscoAutoInstall(t *testing.T) {
	l := newLab(t)
	s := l.start(l.config("  bootfile: network-confg\n"))
	key := l.provision(t, s, "FOC2233XE01", keystore.RSA2048, "hostname xe1\n", false)
	res := l.boot(t, "--serial", "FOC2233XE01", "--key", key, "--vendor", device.VendorCiscoXE, "--max-attempts", "1")
	if !res.Installed() || res.File != "network-confg" {
		t.Fatalf("%+v", res)
	}
	ev := filter(s.events("tftp.fetch"), "outcome", "served")
	if len(ev) != 1 || ev[0]["file"] != "network-confg" || ev[0]["serial"] != "FOC2233XE01" {
		t.Fatalf("events %v", ev)
	}
}

// TestFleet: fifty devices booting at once all install their configs.
func TestFleet(t *testing.T) {
	l := newLab(t)
	l.start(l.config(""))
	keys := filepath.Join(l.dir, "fleet-keys")
	run(t, l.cli.NS, false, sealbootBin, "device", "keygen", "--count", "50", "--serial-prefix", "FL", "--out", keys, "--certs-dir", l.keysDir())
	for _, serial := range device.FleetSerials("FL", 50) {
		_ = os.WriteFile(filepath.Join(l.configsDir(), serial+".cfg"), []byte("hostname "+serial+"\n"), 0o600)
	}
	out := run(t, l.cli.NS, false, sealbootBin, "device", "boot", "--count", "50", "--serial-prefix", "FL", "--keys-dir", keys,
		"--iface", l.cli.Name, "--vendor", device.VendorArista, "--retry", "500ms", "--max-attempts", "10", "--dhcp-timeout", "6s")
	var sum device.Summary
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sum); err != nil || sum.Provisioned != 50 {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("fleet: %s", strings.TrimSpace(out))
}

func filter(ev []map[string]any, key, val string) []map[string]any {
	var out []map[string]any
	for _, e := range ev {
		if e[key] == val {
			out = append(out, e)
		}
	}
	return out
}
