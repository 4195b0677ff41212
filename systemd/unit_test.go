// Package systemd holds sealboot's systemd unit and sysusers file; its test
// checks the unit with systemd-analyze.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitWithBinary writes the unit to a temporary directory with ExecStart
// pointing at a freshly built sealboot: `systemd-analyze verify` checks that
// the executable exists.
func unitWithBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sealboot")
	build := exec.Command("go", "build", "-o", bin, "../cmd/sealboot")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sealboot: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("sealboot.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "/usr/local/bin/sealboot serve\n") {
		t.Fatal("unit no longer runs /usr/local/bin/sealboot; update this test")
	}
	path := filepath.Join(dir, "sealboot.service")
	patched := strings.ReplaceAll(string(unit), "/usr/local/bin/sealboot ", bin+" ")
	if err := os.WriteFile(path, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitVerifies(t *testing.T) {
	unit := unitWithBinary(t)
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitSecurityExposure(t *testing.T) {
	unit := unitWithBinary(t)
	// --threshold is the exposure level times ten: fail above 2.0.
	cmd := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", unit)
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in output (%v):\n%s", err, out)
	}
	t.Logf("exposure level %s", m[1])
	if err != nil {
		t.Fatalf("exposure %s is over 2.0: %v\n%s", m[1], err, out)
	}
}

func TestUnitKeepsRequiredSettings(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("sealboot.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "ExecReload=/usr/local/bin/sealboot reload", "Restart=on-failure",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW",
		"StateDirectory=sealboot", "ConfigurationDirectory=sealboot", "RuntimeDirectory=sealboot",
		"ProtectSystem=strict", "NoNewPrivileges=yes", "SystemCallFilter=@system-service",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_PACKET AF_UNIX",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// The appliance key drop-in verifies with the unit, and names the
// credentials sealboot reads.
func TestApplianceKeyDropInVerifies(t *testing.T) {
	unit := unitWithBinary(t)
	dropIn, err := os.ReadFile("appliance-key.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nLoadCredential=appliance_key:", "\nLoadCredential=appliance_cert:", "\n#LoadCredentialEncrypted=appliance_key:"} {
		if !strings.Contains(string(dropIn), want) {
			t.Errorf("drop-in lacks %q", want)
		}
	}
	dir := unit + ".d"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "appliance-key.conf"), dropIn, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify with the drop-in: %v\n%s", err, out)
	}
	// A typo in the drop-in is caught: the check is not hollow.
	bad := strings.Replace(string(dropIn), "LoadCredential=", "LoadCredentail=", 1)
	if err := os.WriteFile(filepath.Join(dir, "appliance-key.conf"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); !strings.Contains(string(out), "LoadCredentail") {
		t.Fatalf("systemd-analyze verify did not read the drop-in:\n%s", out)
	}
}
