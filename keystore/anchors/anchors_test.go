package anchors

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore"
)

// must stops a test on a setup error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	t.Parallel()
	cisco := must(keystore.GenerateAuthority("Cisco Root", keystore.P256))
	issuing := must(cisco.IssueCA("Cisco Issuing", keystore.P256))
	juniper := must(keystore.GenerateAuthority("Juniper Root", keystore.RSA2048))
	stranger := must(keystore.GenerateAuthority("Stranger", keystore.P256))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Cisco.pem"), cisco.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "juniper.crt"), juniper.Cert.Raw, 0o644) // DER
	os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	os.Symlink(filepath.Join(dir, "Cisco.pem"), filepath.Join(dir, "link.pem"))
	d := must(Open(dir, 0, zap.NewNop()))
	if d.Len() != 2 {
		t.Fatalf("%d anchors, want 2 (the broken file and the symlink refused)", d.Len())
	}
	dev := must(issuing.Issue("FOC1", keystore.P256, keystore.IssueOptions{}))
	jdev := must(juniper.Issue("JN1", keystore.P256, keystore.IssueOptions{}))
	other := must(stranger.Issue("X1", keystore.P256, keystore.IssueOptions{}))
	expired := must(cisco.Issue("OLD", keystore.P256, keystore.IssueOptions{NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)}))
	tests := []struct {
		name   string
		chain  []*x509.Certificate
		vendor string
		err    error
	}{
		{"through the issuing CA it sent", []*x509.Certificate{dev.Cert, issuing.Cert}, "cisco", nil},
		{"without the issuing CA", []*x509.Certificate{dev.Cert}, "", ErrUntrusted},
		{"a DER anchor", []*x509.Certificate{jdev.Cert}, "juniper", nil},
		{"unknown CA", []*x509.Certificate{other.Cert}, "", ErrUntrusted},
		{"expired", []*x509.Certificate{expired.Cert}, "", ErrUntrusted},
		{"none", nil, "", ErrNoCertificate},
	}
	for _, tt := range tests {
		v, err := d.Verify(tt.chain, time.Now())
		if v != tt.vendor || !errors.Is(err, tt.err) {
			t.Errorf("%s: vendor %q err %v, want %q %v", tt.name, v, err, tt.vendor, tt.err)
		}
	}
}

// A vendor CA dropped into the watched directory is trusted without a
// reload; one removed is not trusted any more.
func TestRunPicksUpChanges(t *testing.T) {
	t.Parallel()
	ca := must(keystore.GenerateAuthority("Vendor", keystore.P256))
	dev := must(ca.Issue("SN1", keystore.P256, keystore.IssueOptions{}))
	dir := t.TempDir()
	d := must(Open(dir, 10*time.Millisecond, zap.NewNop()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	<-d.Ready()
	waitFor := func(want error) {
		t.Helper()
		for {
			_, err := d.Verify([]*x509.Certificate{dev.Cert}, time.Now())
			if errors.Is(err, want) || (want == nil && err == nil) {
				return
			}
			select {
			case <-t.Context().Done():
				t.Fatalf("still %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitFor(ErrUntrusted)
	os.WriteFile(filepath.Join(dir, "vendor.pem"), ca.CertPEM, 0o644)
	waitFor(nil)
	os.Remove(filepath.Join(dir, "vendor.pem"))
	waitFor(ErrUntrusted)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
