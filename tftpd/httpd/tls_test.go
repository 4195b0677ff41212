package httpd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// serverCert writes a self-signed certificate for 127.0.0.1 and its key.
func serverCert(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile, cert
}

// HTTPS: the same configs and checks over TLS; a renewed certificate is
// taken on reload; a client that does not speak TLS gets an event.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, cert1 := serverCert(t, dir, "one")
	h := newHarness(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile }, nil)
	fetchOnce := func(want *x509.Certificate) (*http.Response, []byte) {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(want)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addrSN1.AsSlice()}}
		tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + h.addr + "/SN1.enc")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := fetchOnce(cert1)
	if resp.StatusCode != 200 || resp.TLS == nil || resp.ProtoMajor != 1 {
		t.Fatalf("status %d, TLS %v, %s", resp.StatusCode, resp.TLS != nil, resp.Proto)
	}
	if plain, err := cms.Open(h.keys["SN1"].Key, body); err != nil || string(plain) != config1 {
		t.Fatalf("open: %v", err)
	}
	// Renewed in place; a bad pair is refused and the running one stays.
	_, _, cert2 := serverCert(t, dir, "one")
	bad := Config{TLSCert: certFile, TLSKey: filepath.Join(dir, "missing.key")}
	if err := h.s.Check(bad); err == nil {
		t.Fatal("Check accepted a missing key")
	}
	if err := h.s.Update(Config{TLSCert: certFile, TLSKey: keyFile}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := fetchOnce(cert2); resp.StatusCode != 200 {
		t.Fatalf("after renewal: %d", resp.StatusCode)
	}
	// Plain HTTP to the TLS port.
	out, ev := h.raw("GET /SN1.enc HTTP/1.1\r\nHost: x\r\n\r\n")
	if strings.Contains(out, "s3cr3t") || ev["outcome"] != fetch.OutcomeAborted || !strings.Contains(ev["reason"].(string), "tls") {
		t.Fatalf("plain HTTP on the TLS port: %q, event %v", out, ev)
	}
}
