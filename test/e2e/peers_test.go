package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// TestRealToolsDevice: dhclient + tftp + openssl cms -decrypt against
// sealboot, from a shell script.
func TestRealToolsDevice(t *testing.T) {
	need(t, "dhclient", "tftp", "openssl")
	l := newLab(t)
	s := l.start(l.config(""))
	config := "set system host-name pe-real\nset system radius-server 192.0.2.10 secret s3cr3t\n"
	key := l.provision(t, s, "JNREAL01", keystore.P256, config, false)
	expected := filepath.Join(l.dir, "expected.cfg")
	_ = os.WriteFile(expected, []byte(config), 0o600)
	work := filepath.Join(l.dir, "device")
	_ = os.MkdirAll(work, 0o700)
	script, _ := filepath.Abs("testdata/real_device.sh")
	out := run(t, l.cli.NS, false, "bash", script, l.cli.Name, "JNREAL01", key, work, expected)
	t.Logf("%s", out)
	if ev := s.wait("tftp fetch served", nil); ev["serial"] != "JNREAL01" || ev["mac"] == "" {
		t.Fatalf("event %v", ev)
	}
}

// TestDeviceAgainstDnsmasq: the emulated device is a faithful device: it
// provisions from dnsmasq (DHCP and TFTP) serving files made with the
// RFC 8886 Appendix A openssl commands.
func TestDeviceAgainstDnsmasq(t *testing.T) {
	need(t, "dnsmasq", "openssl")
	l := newLab(t)
	root := filepath.Join(l.dir, "tftproot")
	_ = os.MkdirAll(root, 0o755)
	config := "hostname from-dnsmasq\nradius key abc\n"
	plain := filepath.Join(l.dir, "plain.cfg")
	_ = os.WriteFile(plain, []byte(config), 0o600)
	sum := sha256.Sum256([]byte(config))
	cases := []struct {
		serial string
		kt     keystore.KeyType
		argv   []string // openssl command; IN, OUT and CERT are replaced
	}{
		{"DMP256", keystore.P256, []string{"cms", "-encrypt", "-binary", "-aes256", "-in", "IN", "-out", "OUT", "-outform", "PEM", "CERT"}},
		{"DMRSA", keystore.RSA2048, []string{"smime", "-encrypt", "-aes-256-cbc", "-in", "IN", "-out", "OUT", "-outform", "PEM", "CERT"}},
		{"DMCRLF", keystore.P256, []string{"cms", "-encrypt", "-aes128", "-in", "IN", "-out", "OUT", "-outform", "DER", "CERT"}},
	}
	keys := map[string]string{}
	for _, c := range cases {
		id, err := keystore.GenerateDevice(c.serial, c.kt)
		if err != nil {
			t.Fatal(err)
		}
		cert, key := filepath.Join(l.dir, c.serial+".crt"), filepath.Join(l.dir, c.serial+".key")
		_ = os.WriteFile(cert, id.CertPEM, 0o644)
		_ = os.WriteFile(key, id.KeyPEM, 0o600)
		keys[c.serial] = key
		subst := map[string]string{"IN": plain, "OUT": filepath.Join(root, c.serial+".enc"), "CERT": cert}
		argv := append([]string(nil), c.argv...)
		for i, a := range argv {
			if v, ok := subst[a]; ok {
				argv[i] = v
			}
		}
		if out, err := exec.Command("openssl", argv...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v %s", argv, err, out)
		}
	}
	for _, c := range cases {
		// dnsmasq hands every client the same file: one dnsmasq per device.
		ctx, cancel := context.WithCancel(t.Context())
		dm := l.srv.NS.Command(ctx, "dnsmasq", "--no-daemon", "--no-ping", "--no-resolv", "--port=0", "--bind-interfaces",
			"--interface="+l.srv.Name, "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h",
			"--dhcp-boot="+c.serial+".enc,,192.0.2.1", "--enable-tftp", "--tftp-root="+root,
			"--dhcp-leasefile="+filepath.Join(l.dir, "dnsmasq.leases"), "--pid-file="+filepath.Join(l.dir, "dnsmasq.pid"))
		if err := dm.Start(); err != nil {
			t.Fatal(err)
		}
		// dnsmasq has no readiness signal: the device retransmits its DISCOVER.
		res := l.boot(t, "--serial", c.serial, "--key", keys[c.serial], "--require-encrypted", "--expect-sha256", hex.EncodeToString(sum[:]), "--max-attempts", "3", "--retry", "200ms")
		cancel()
		_ = dm.Wait()
		if !res.Installed() || !res.Encrypted {
			t.Fatalf("%s from dnsmasq: %+v", c.serial, res)
		}
		t.Logf("%s from dnsmasq: %s %d bytes, sha256 %s…", c.serial, res.File, res.Bytes, res.SHA256[:16])
	}
}
