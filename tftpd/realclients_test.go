package tftpd

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// client fetches file from a server at host:port into out with a real
// TFTP client program.
type client struct {
	name, pkg string
	fetch     func(host, port, file, out string) *exec.Cmd
}

var realClients = []client{
	{"tftp-hpa", "tftp-hpa", func(host, port, file, out string) *exec.Cmd {
		return exec.Command("tftp", "-m", "binary", host, port, "-c", "get", file, out)
	}},
	{"atftp", "atftp", func(host, port, file, out string) *exec.Cmd {
		return exec.Command("atftp", "--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", file, "-l", out, host, port)
	}},
	{"curl", "curl", func(host, port, file, out string) *exec.Cmd {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return exec.Command("curl", "-sS", "--fail", "--tftp-blksize", "1468", "-o", out, fmt.Sprintf("tftp://%s:%s/%s", host, port, file))
	}},
}

func binaryOf(c client) string { return strings.Fields(c.fetch("h", "1", "f", "o").String())[0] }

// TestRealClients fetches sealed configs with tftp-hpa, atftp and curl over
// IPv4 and IPv6 and opens them with `openssl cms -decrypt`.
func TestRealClients(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	rsa, ec := device(t, "SNRSA", keystore.RSA2048), device(t, "SNEC", keystore.P256)
	h := start(t, Config{}, fetch.Config{}, fakeCerts{"SNRSA": rsa, "SNEC": ec}, nil)
	h.configs.set("SNRSA", sampleConfig)
	h.configs.set("SNEC", sampleConfig)
	dir := t.TempDir()
	for _, c := range realClients {
		if _, err := exec.LookPath(binaryOf(c)); err != nil {
			t.Logf("skipping %s: not installed (Debian package %s)", c.name, c.pkg)
			continue
		}
		for _, fam := range []string{"udp4", "udp6"} {
			for _, id := range []*keystore.DeviceIdentity{rsa, ec} {
				serial := id.Cert.Subject.CommonName
				name := fmt.Sprintf("%s-%s-%s", c.name, fam, serial)
				t.Run(name, func(t *testing.T) {
					host, port, _ := net.SplitHostPort(h.addr(fam))
					out := filepath.Join(dir, name+".enc")
					if b, err := c.fetch(host, port, serial+".enc", out).CombinedOutput(); err != nil {
						t.Fatalf("%v: %s", err, b)
					}
					key, cert := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".crt")
					_ = os.WriteFile(key, id.KeyPEM, 0o600)
					_ = os.WriteFile(cert, id.CertPEM, 0o644)
					plain, err := exec.Command("openssl", "cms", "-decrypt", "-inform", "PEM", "-in", out, "-recip", cert, "-inkey", key).Output()
					if err != nil || !bytes.Equal(plain, sampleConfig) {
						t.Fatalf("openssl cms -decrypt: %v", err)
					}
				})
			}
		}
	}
	for _, e := range h.events() {
		if e["outcome"] != fetch.OutcomeServed {
			t.Errorf("event %v", e)
		}
	}
}

// TestRealClientRefusals: what tftp-hpa sees for a traversal name, an
// unknown serial, and a put.
func TestRealClientRefusals(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tftp"); err != nil {
		t.Skip("tftp not installed (Debian package tftp-hpa)")
	}
	h := start(t, Config{}, fetch.Config{}, fakeCerts{}, nil)
	host, port, _ := net.SplitHostPort(h.addr("udp4"))
	dir := t.TempDir()
	src := filepath.Join(dir, "evil.enc")
	_ = os.WriteFile(src, []byte("config"), 0o600)
	runs := []struct {
		args    []string
		outcome string
	}{
		{[]string{"-c", "get", "../../etc/passwd", filepath.Join(dir, "p")}, fetch.OutcomeDeniedName},
		{[]string{"-c", "get", "UNKNOWN.enc", filepath.Join(dir, "u")}, fetch.OutcomeNotFound},
		{[]string{"-c", "put", src, "SN1.enc"}, fetch.OutcomeWriteRefused},
	}
	for _, r := range runs {
		cmd := exec.Command("tftp", append([]string{"-m", "binary", host, port}, r.args...)...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput() // tftp-hpa exits 0 on server errors; its output says
		if !strings.Contains(string(out), "Error code") {
			t.Errorf("tftp %v: %s", r.args, out)
		}
	}
	ev := h.waitEvents(len(runs))
	for i, r := range runs {
		if ev[i]["outcome"] != r.outcome {
			t.Errorf("%v: event %v", r.args, ev[i])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(dir, "p")); len(b) > 0 {
			t.Fatal("traversal request received data")
		}
	}
}
