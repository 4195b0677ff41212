package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
)

// TestReloadKeepsBindingCheck: with tftp.binding_check unset (on, because
// DHCP runs), a reload whose file turns dhcp.enabled off, or that is empty,
// leaves DHCP serving as it was (dhcp.enabled changes on restart) and so
// the binding check on: an address DHCP did not give the device is still
// refused its config, and a new device still gets an address and its
// config (issue 16 item 2).
func TestReloadKeepsBindingCheck(t *testing.T) {
	need(t, "curl")
	l := newLab(t)
	cfgPath := l.config("")
	s := l.start(cfgPath)
	key := l.provision(t, s, "VICTIM2", keystore.P256, "hostname v2\nsecret v2\n", false)
	if res := l.boot(t, "--serial", "VICTIM2", "--key", key, "--vendor", device.VendorJuniper, "--max-attempts", "1", "--keep-address"); !res.Installed() {
		t.Fatalf("device: %+v", res)
	}
	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ name, yaml string }{
		{"dhcp.enabled false", strings.Replace(string(orig), "enabled: true", "enabled: false", 1)},
		{"empty file", ""},
	} {
		if err := os.WriteFile(cfgPath, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = s.cmd.Process.Signal(syscall.SIGHUP)
		ev := s.waitNth("configuration reloaded", i)
		if ev["binding_check"] != true {
			t.Fatalf("%s: reload event %v", tc.name, ev)
		}
		s.wait("changed setting takes effect at the next restart; keeping the running value", func(m map[string]any) bool {
			return m["key"] == "dhcp.enabled" && m["running"] == "true" && m["new"] == "false"
		})
		// A stranger on the segment (a device boot takes its addresses away).
		run(t, l.cli.NS, false, "ip", "addr", "replace", "192.0.2.250/24", "dev", l.cli.Name)
		stolen := filepath.Join(l.dir, fmt.Sprintf("stolen%d", i))
		out := run(t, l.cli.NS, true, "curl", "-sS", "--interface", "192.0.2.250", "-o", stolen, "tftp://192.0.2.1/VICTIM2.enc")
		if b, _ := os.ReadFile(stolen); len(b) > 0 {
			t.Fatalf("%s: after the reload a stranger got %d bytes (%s)", tc.name, len(b), out)
		}
		mm := s.waitNth("tftp fetch binding_mismatch", i)
		if mm["serial"] != "VICTIM2" || !strings.HasPrefix(mm["remote"].(string), "192.0.2.250:") {
			t.Fatalf("%s: event %v", tc.name, mm)
		}
		serial := fmt.Sprintf("NEW%d", i)
		nkey := l.provision(t, s, serial, keystore.P256, "hostname "+serial+"\n", false)
		if res := l.boot(t, "--serial", serial, "--key", nkey, "--vendor", device.VendorJuniper, "--max-attempts", "1"); !res.Installed() {
			t.Fatalf("%s: a new device after the reload: %+v\n%s", tc.name, res, s.logText())
		}
	}
}
