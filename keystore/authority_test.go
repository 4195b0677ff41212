package keystore

import (
	"crypto/x509"
	"net"
	"testing"
)

// A vendor CA's device certificate chains to it, names its serial the way
// SubjectSerial reads it, and serves TLS clients (and servers when asked).
func TestAuthorityIssue(t *testing.T) {
	t.Parallel()
	root, err := GenerateAuthority("Vendor Root", P256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("Vendor Issuing CA", P384)
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []KeyType{P256, RSA2048} {
		id, err := inter.Issue("FDO12345", kt, IssueOptions{ServerIPs: []net.IP{net.ParseIP("192.0.2.1")}})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := SubjectSerial(id.Cert); err != nil || s != "FDO12345" {
			t.Fatalf("serial %q, %v", s, err)
		}
		roots, inters := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root.Cert)
		inters.AddCert(inter.Cert)
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Fatalf("%s: usage %v: %v", kt, usage, err)
			}
		}
		if _, err := ParseCertificate(id.CertPEM); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadAuthority(t *testing.T) {
	t.Parallel()
	a, err := GenerateAuthority("Vendor", P256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadAuthority(a.CertPEM, a.KeyPEM)
	if err != nil || !b.Cert.Equal(a.Cert) {
		t.Fatalf("%v", err)
	}
	other, _ := GenerateAuthority("Other", P256)
	if _, err := LoadAuthority(a.CertPEM, other.KeyPEM); err == nil {
		t.Fatal("a key of another CA was accepted")
	}
	if _, err := b.Issue("SN1", P256, IssueOptions{}); err != nil {
		t.Fatal(err)
	}
}
