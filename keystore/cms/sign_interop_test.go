package cms

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// writePKI writes the test root, intermediate and a signer for openssl.
func writePKI(t *testing.T, p *pki, id *keystore.DeviceIdentity) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for name, data := range map[string][]byte{
		"root.pem": p.root.CertPEM, "inter.pem": p.inter.CertPEM,
		"signer.pem": id.CertPEM, "signer.key": id.KeyPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// What Sign writes verifies with `openssl cms -verify`, and openssl sees
// the content type Sign was given.
func TestInteropSignThenOpenSSLVerifies(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	p := getPKI(t)
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256, keystore.P384} {
		for _, ct := range []ContentType{TypeSZTPConveyedInfoJSON, TypeSZTPConveyedInfoXML, TypeVoucher, TypeData} {
			t.Run(string(kt)+"/"+string(ct), func(t *testing.T) {
				t.Parallel()
				id := p.signers[kt]
				dir := writePKI(t, p, id)
				msg, err := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{ContentType: ct, Chain: []*x509.Certificate{p.inter.Cert}})
				if err != nil {
					t.Fatal(err)
				}
				got := runOpenSSL(t, msg, "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-CAfile", filepath.Join(dir, "root.pem"))
				if !bytes.Equal(got, conveyedJSON) {
					t.Fatalf("openssl cms -verify gave %q", got)
				}
				// The same as PEM, labelled CMS.
				pemMsg := pem.EncodeToMemory(&pem.Block{Type: "CMS", Bytes: msg})
				runOpenSSL(t, pemMsg, "cms", "-verify", "-binary", "-inform", "PEM", "-purpose", "any", "-CAfile", filepath.Join(dir, "root.pem"))
				printed := string(runOpenSSL(t, msg, "cms", "-cmsout", "-print", "-inform", "DER"))
				if !strings.Contains(printed, "eContentType: "+oidName(ct)) {
					t.Fatalf("openssl does not see eContentType %s:\n%s", ct, printed)
				}
			})
		}
	}
}

// oidName is how `openssl cms -print` shows a content type.
func oidName(ct ContentType) string {
	if ct == TypeData {
		return "pkcs7-data"
	}
	return "undefined (" + string(ct) + ")"
}

// What `openssl cms -sign` writes verifies with Verify: every output
// format, BER streaming, SHA-384, a subject key identifier, no signed
// attributes, no certificates (given the signer).
func TestInteropOpenSSLSignsThenVerify(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	p := getPKI(t)
	type variant struct {
		name      string
		args      []string
		nocerts   bool
		noattr    bool
		ctypeJSON bool
	}
	variants := []variant{
		{name: "der", args: []string{"-outform", "DER"}},
		{name: "pem", args: []string{"-outform", "PEM"}},
		{name: "smime", args: nil},
		{name: "stream ber", args: []string{"-stream", "-outform", "DER"}},
		{name: "sztp json type", args: []string{"-outform", "DER", "-econtent_type", string(TypeSZTPConveyedInfoJSON)}, ctypeJSON: true},
		{name: "sha384", args: []string{"-outform", "DER", "-md", "sha384"}},
		{name: "keyid", args: []string{"-outform", "DER", "-keyid"}},
		{name: "noattr", args: []string{"-outform", "DER", "-noattr"}, noattr: true},
		{name: "nocerts", args: []string{"-outform", "DER", "-nocerts"}, nocerts: true},
		{name: "with chain", args: []string{"-outform", "DER", "-certfile", "INTER"}},
	}
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256, keystore.P384} {
		for _, v := range variants {
			t.Run(string(kt)+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				id := p.signers[kt]
				dir := writePKI(t, p, id)
				args := []string{"cms", "-sign", "-binary", "-nodetach", "-signer", filepath.Join(dir, "signer.pem"), "-inkey", filepath.Join(dir, "signer.key")}
				for _, a := range v.args {
					args = append(args, strings.ReplaceAll(a, "INTER", filepath.Join(dir, "inter.pem")))
				}
				msg := runOpenSSL(t, conveyedJSON, args...)
				opts := VerifyOptions{Roots: p.roots(), Intermediates: pool(p.inter.Cert)}
				if v.nocerts {
					opts = VerifyOptions{Signer: id.Cert}
				}
				got, err := Verify(msg, opts)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := TypeData
				if v.ctypeJSON {
					want = TypeSZTPConveyedInfoJSON
				}
				if !bytes.Equal(got.Content, conveyedJSON) || got.ContentType != want || !got.Signer.Equal(id.Cert) {
					t.Fatalf("got %q type %s", got.Content, got.ContentType)
				}
				if !v.noattr && got.SigningTime.IsZero() {
					t.Error("no signing time read")
				}
			})
		}
	}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// The certificates-only form is what `openssl crl2pkcs7 -nocrl` makes,
// and both read each other's.
func TestInteropCertificatesOnly(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	p := getPKI(t)
	dir := writePKI(t, p, p.signers[keystore.P256])
	ours := mustCerts(t, p.root.Cert, p.inter.Cert)
	printed := string(runOpenSSL(t, ours, "pkcs7", "-inform", "DER", "-print_certs", "-noout"))
	if !strings.Contains(printed, "Test Root") || !strings.Contains(printed, "Test Intermediate") {
		t.Fatalf("openssl pkcs7 -print_certs:\n%s", printed)
	}
	theirs := runOpenSSL(t, nil, "crl2pkcs7", "-nocrl", "-certfile", filepath.Join(dir, "root.pem"), "-certfile", filepath.Join(dir, "inter.pem"), "-outform", "DER")
	got, err := ParseCertificates(theirs)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v, %d certificates", err, len(got))
	}
}

// A signed and then encrypted message (RFC 8572 section 3.4) opens with
// `openssl cms -decrypt`, which gives the SignedData.
func TestInteropSignedThenSealedDecrypts(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	p := getPKI(t)
	signer := p.signers[keystore.RSA2048]
	dev := device(t, keystore.P256)
	key, cert := writeIdentity(t, dev)
	signed, err := Sign(conveyedJSON, signer.Cert, signer.Key, SignOptions{ContentType: TypeSZTPConveyedInfoJSON})
	if err != nil {
		t.Fatal(err)
	}
	_, inner, _ := cutContentInfo(t, signed)
	sealed, err := Seal(dev.Cert, inner, Options{DER: true, ContentType: TypeSignedData})
	if err != nil {
		t.Fatal(err)
	}
	got := runOpenSSL(t, sealed, "cms", "-decrypt", "-binary", "-inform", "DER", "-recip", cert, "-inkey", key)
	if !bytes.Equal(got, inner) {
		t.Fatal("openssl cms -decrypt did not give the SignedData back")
	}
	printed := string(runOpenSSL(t, sealed, "cms", "-cmsout", "-print", "-inform", "DER"))
	if !strings.Contains(printed, "contentType: pkcs7-signedData") {
		t.Fatalf("openssl does not see the signed content type:\n%s", printed)
	}
}
