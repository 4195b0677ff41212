package sztpd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// A client limited to TLS 1.2 and RSA PKCS#1 v1.5 signatures (as field
// reports describe IOS-XE 17), with an RSA server certificate and an RSA
// IDevID, completes the handshake and is served.
func TestTLS12PKCS1(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	t.Parallel()
	p := getPKI(t)
	rsaServer, err := p.serverCA.Issue("sztp-rsa", keystore.RSA2048, keystore.IssueOptions{ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, func(l *lab, c *Config) {
		c.TLSCert, c.TLSKey = filepath.Join(l.dir, "rsa.pem"), filepath.Join(l.dir, "rsa.key")
		_ = os.WriteFile(c.TLSCert, rsaServer.CertPEM, 0o600)
		_ = os.WriteFile(c.TLSKey, rsaServer.KeyPEM, 0o600)
	})
	dev := p.devices["SN2"] // RSA-2048
	dir := t.TempDir()
	cert, key, ca := filepath.Join(dir, "d.pem"), filepath.Join(dir, "d.key"), filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(cert, dev.CertPEM, 0o600)
	_ = os.WriteFile(key, dev.KeyPEM, 0o600)
	_ = os.WriteFile(ca, p.serverCA.CertPEM, 0o600)
	req := "POST " + pathOperations + rpcPrefix + rpcGet + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	cmd := exec.Command("openssl", "s_client", "-connect", strings.TrimPrefix(l.url, "https://"), "-tls1_2",
		"-sigalgs", "RSA+SHA256", "-client_sigalgs", "RSA+SHA256", "-cert", cert, "-key", key, "-CAfile", ca, "-quiet", "-verify_return_error")
	cmd.Stdin = strings.NewReader(req)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HTTP/1.1 200 OK") {
		t.Fatalf("%v\n%s", err, out)
	}
	if ev := l.event(t, "sztp.request", 1); ev["serial"] != "SN2" || ev["outcome"] != "served" {
		t.Fatalf("event %v", ev)
	}
}
