package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/netns"
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

// TestLinkLocalTFTP: a tftp.listen address with a zone serves link-local
// clients (curl, tftp-hpa, atftp), and each file opens with openssl to the
// config.
func TestLinkLocalTFTP(t *testing.T) {
	need(t, "curl", "tftp", "atftp", "openssl")
	l := newLab(t)
	for _, link := range []*netns.Link{l.srv, l.cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, l.srv.NS, false, "ip", "-6", "-o", "addr", "show", "dev", l.srv.Name, "scope", "link")
	m := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link-local address:\n%s", out)
	}
	ll := m[1]
	state := filepath.Join(l.dir, "state")
	for _, d := range []string{l.keysDir(), l.configsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(l.dir, "ll.yaml")
	_ = os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\nwatch:\n  settle: 50ms\nkeystore:\n  settle: 50ms\ntftp:\n  listen: [\"[%s%%%s]:69\"]\n", state, ll, l.srv.Name)), 0o600)
	s := l.start(cfg)
	config := "hostname ll-1\nradius key s3cr3t\n"
	key := l.provision(t, s, "LL0001", keystore.P256, config, false)
	expected := filepath.Join(l.dir, "expected.cfg")
	_ = os.WriteFile(expected, []byte(config), 0o600)
	server := ll + "%" + l.cli.Name
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"curl", []string{"curl", "-sS", "-m", "10", "-o", "OUT", "tftp://[" + ll + "%25" + l.cli.Name + "]/LL0001.enc"}},
		{"tftp-hpa", []string{"tftp", "-6", "-m", "octet", server, "-c", "get", "LL0001.enc", "OUT"}},
		{"atftp", []string{"atftp", "--option", "blksize 1428", "-g", "-r", "LL0001.enc", "-l", "OUT", server, "69"}},
	} {
		got := filepath.Join(l.dir, c.name+".enc")
		argv := append([]string(nil), c.argv...)
		for i := range argv {
			if argv[i] == "OUT" {
				argv[i] = got
			}
		}
		run(t, l.cli.NS, false, argv...)
		plain := run(t, l.cli.NS, false, "openssl", "cms", "-decrypt", "-inform", "PEM", "-in", got, "-inkey", key)
		if plain != config {
			t.Fatalf("%s over link-local: decrypted %q", c.name, plain)
		}
	}
	served := 0
	for _, ev := range s.events("tftp.fetch") {
		if ev["outcome"] == "served" && strings.HasPrefix(ev["remote"].(string), "[fe80::") {
			served++
		}
	}
	if served != 3 {
		t.Fatalf("%d link-local fetches served, want 3", served)
	}
}
