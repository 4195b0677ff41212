package systemdtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/test/device"
	"github.com/sealboot/sealboot/test/netns"
)

// TestApplianceKeyAsCredential boots systemd as PID 1 with the unit and the
// shipped drop-in systemd/appliance-key.conf, installed as
// systemd/README.md says: the appliance key made by `sealboot keys
// appliance init` stays root's (0600) and reaches the service, which runs
// as sealboot, only through LoadCredential=; a device whose config is
// sealed to the appliance (in a configs directory readable by anyone, with
// no warning) boots with it; a plaintext config dropped there brings the
// warning back.
func TestApplianceKeyAsCredential(t *testing.T) {
	m, dev, bin := bootWithUnit(t, map[string]string{
		"../../systemd/appliance-key.conf": "etc/systemd/system/sealboot.service.d/appliance-key.conf",
	})
	dir := t.TempDir() // the test's own files: device keys
	m.mustRun(t, nil, "install", "-d", "-m", "0750", "-g", "sealboot", "/etc/sealboot")
	m.mustRun(t, []byte(fmt.Sprintf(serverConfig, "info")), "install", "-m", "0640", "-g", "sealboot", "/dev/stdin", "/etc/sealboot/sealboot.yaml")
	certPEM := m.mustRun(t, nil, "sealboot", "keys", "appliance", "init", "--key", "/etc/sealboot/appliance.key", "--cert", "/etc/sealboot/appliance.crt", "--name", "pop-sysd")
	var st syscall.Stat_t
	if err := syscall.Stat(m.path("/etc/sealboot/appliance.key"), &st); err != nil || st.Mode&0o777 != 0o600 || st.Uid != 0 {
		t.Fatalf("appliance key: %v, mode %o, uid %d; want root's 0600", err, st.Mode&0o777, st.Uid)
	}
	// A POP holding only sealed configs: the directory readable by anyone.
	m.mustRun(t, nil, "install", "-d", "-m", "0755", "/var/lib/sealboot/configs")
	m.mustRun(t, nil, "systemctl", "daemon-reload")
	m.mustRun(t, nil, "systemctl", "start", "sealboot")
	ev := m.event(t, "appliance key loaded: configs sealed to it are opened in memory when a device needs them")
	if ev["source"] != "systemd credential appliance_key" {
		t.Fatalf("appliance key loaded from %v, want the systemd credential", ev["source"])
	}

	// The central side seals a device's config to the appliance certificate.
	applianceCert, err := keystore.ParseCertificate([]byte(certPEM))
	if err != nil {
		t.Fatalf("the certificate init printed: %v\n%s", err, certPEM)
	}
	id, err := keystore.GenerateDevice("SYSDCRED", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "SYSDCRED.key")
	if err := os.WriteFile(key, id.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	config := "hostname SYSDCRED\nradius-server key SECRET-SYSDCRED\n"
	sealed, err := cms.Seal(applianceCert, []byte(config), cms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.mustRun(t, id.CertPEM, "install", "-m", "0640", "-o", "sealboot", "-g", "sealboot", "/dev/stdin", "/var/lib/sealboot/keys/SYSDCRED.crt")
	m.mustRun(t, sealed, "install", "-m", "0644", "/dev/stdin", "/var/lib/sealboot/configs/SYSDCRED.cfg.cms")
	waitFor(t, "SYSDCRED's config ready", func() bool {
		return strings.Contains(m.journal(), `"serial":"SYSDCRED","file":"SYSDCRED.cfg.cms","bytes"`) && strings.Contains(m.journal(), "config ready")
	})
	installed := filepath.Join(dir, "SYSDCRED.installed")
	res := bootDeviceInstall(t, dev, bin, "SYSDCRED", key, installed)
	if !res.Installed() || !res.Encrypted {
		t.Fatalf("device: %+v\njournal:\n%s", res, m.journal())
	}
	if got, _ := os.ReadFile(installed); string(got) != config {
		t.Fatalf("the device installed %q", got)
	}
	if strings.Contains(m.journal(), "open to other users") {
		t.Fatalf("warned about a configs directory holding only sealed configs:\n%s", m.journal())
	}
	// A plaintext config there: the warning is back.
	m.mustRun(t, []byte("hostname PLAIN\n"), "install", "-m", "0600", "-o", "sealboot", "-g", "sealboot", "/dev/stdin", "/var/lib/sealboot/configs/PLAIN.cfg")
	waitFor(t, "the open-directory warning for a plaintext config", func() bool {
		return strings.Contains(m.journal(), "open to other users and holds plaintext configs")
	})
	if strings.Contains(m.journal(), "SECRET-SYSDCRED") {
		t.Fatal("the sealed config's secret is in the journal")
	}
}

// bootDeviceInstall boots the emulated Juniper device on dev, as
// bootDevice does, refusing a plaintext config and writing the decrypted
// one to installed.
func bootDeviceInstall(t *testing.T, dev *netns.Link, bin, serial, key, installed string) device.Result {
	t.Helper()
	out, _ := dev.NS.Command(t.Context(), bin, "device", "boot", "--iface", dev.Name, "--vendor", "juniper",
		"--serial", serial, "--key", key, "--dhcp-timeout", "10s", "--tftp-timeout", "1s", "--max-attempts", "3", "--retry", "1s,1s",
		"--require-encrypted", "--install", installed).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		var res device.Result
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &res) == nil {
			return res
		}
	}
	t.Fatalf("no result from device boot:\n%s", out)
	return device.Result{}
}
