package cms

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
)

var conveyedJSON = []byte(`{"ietf-sztp-conveyed-info:onboarding-information":{"configuration-handling":"merge","configuration":"aG9zdG5hbWUgcjE="}}`)

// pki is a root, an intermediate under it and signers of each key type
// under the intermediate, made once per test binary.
type pki struct {
	root, inter *keystore.Authority
	signers     map[keystore.KeyType]*keystore.DeviceIdentity
}

var testPKI = sync.OnceValues(func() (*pki, error) {
	root, err := keystore.GenerateAuthority("Test Root", keystore.P256)
	if err != nil {
		return nil, err
	}
	inter, err := root.IssueCA("Test Intermediate", keystore.P384)
	if err != nil {
		return nil, err
	}
	p := &pki{root: root, inter: inter, signers: map[keystore.KeyType]*keystore.DeviceIdentity{}}
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256, keystore.P384, keystore.P521} {
		if p.signers[kt], err = inter.Issue("OWNER-"+string(kt), kt, keystore.IssueOptions{}); err != nil {
			return nil, err
		}
	}
	return p, nil
})

func getPKI(t testing.TB) *pki {
	t.Helper()
	p, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	return pool
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	for kt, id := range p.signers {
		for _, ct := range []ContentType{"", TypeSZTPConveyedInfoJSON, TypeSZTPConveyedInfoXML, TypeVoucher} {
			t.Run(string(kt)+"/"+string(ct), func(t *testing.T) {
				t.Parallel()
				when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
				msg, err := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{ContentType: ct, Chain: []*x509.Certificate{p.inter.Cert}, SigningTime: when})
				if err != nil {
					t.Fatal(err)
				}
				got, err := Verify(msg, VerifyOptions{Roots: p.roots()})
				if err != nil {
					t.Fatal(err)
				}
				want := ct
				if want == "" {
					want = TypeData
				}
				if !bytes.Equal(got.Content, conveyedJSON) || got.ContentType != want || !got.Signer.Equal(id.Cert) || !got.SigningTime.Equal(when) {
					t.Fatalf("got %q %s signer %s at %v", got.Content, got.ContentType, got.Signer.Subject, got.SigningTime)
				}
				if len(got.Certificates) != 2 || len(got.Chains) == 0 {
					t.Fatalf("%d certificates, %d chains", len(got.Certificates), len(got.Chains))
				}
				if _, err := Verify(msg, VerifyOptions{Signer: id.Cert}); err != nil {
					t.Fatalf("verify against the signer: %v", err)
				}
			})
		}
	}
}

// Every way a message can be wrong is refused with the right error.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	id := p.signers[keystore.P256]
	other := p.signers[keystore.RSA2048]
	good, err := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{ContentType: TypeSZTPConveyedInfoJSON, Chain: []*x509.Certificate{p.inter.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	noChain, _ := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{})
	stranger, _ := keystore.GenerateAuthority("Stranger", keystore.P256)
	strangerPool := x509.NewCertPool()
	strangerPool.AddCert(stranger.Cert)
	flip := func(b []byte, sub []byte) []byte {
		out := bytes.Clone(b)
		i := bytes.Index(out, sub)
		if i < 0 {
			t.Fatalf("%q not in message", sub)
		}
		out[i+len(sub)-1] ^= 1
		return out
	}
	tests := []struct {
		name string
		msg  []byte
		opts VerifyOptions
		want error
	}{
		{"content changed", flip(good, []byte("merge")), VerifyOptions{Roots: p.roots()}, ErrSignature},
		{"other trust anchor", good, VerifyOptions{Roots: strangerPool}, ErrUntrusted},
		{"other signer expected", good, VerifyOptions{Signer: other.Cert}, ErrUntrusted},
		{"chain not carried", noChain, VerifyOptions{Roots: p.roots()}, ErrUntrusted},
		{"expired at that time", good, VerifyOptions{Roots: p.roots(), CurrentTime: time.Now().AddDate(20, 0, 0)}, ErrUntrusted},
		{"enveloped, not signed", mustSeal(t, id.Cert), VerifyOptions{Roots: p.roots()}, ErrNotSigned},
		{"certificates only", mustCerts(t, id.Cert), VerifyOptions{Roots: p.roots()}, ErrNotSigned},
		{"garbage", []byte("hello"), VerifyOptions{Roots: p.roots()}, ErrNotCMS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Verify(tt.msg, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func mustSeal(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	b, err := Seal(c, conveyedJSON, Options{DER: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCerts(t *testing.T, c ...*x509.Certificate) []byte {
	t.Helper()
	b, err := Certificates(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The signed attributes are in DER order and the signature covers them:
// a signature over a content-type attribute changed to another type fails.
func TestSignedAttributesAreSignedAndSorted(t *testing.T) {
	t.Parallel()
	id := getPKI(t).signers[keystore.P256]
	msg, err := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{ContentType: TypeSZTPConveyedInfoJSON})
	if err != nil {
		t.Fatal(err)
	}
	// The content-type attribute's value 1.2.840.113549.1.9.16.1.43 ends
	// in 0x2b; the eContentType carries the same bytes, so change the
	// second occurrence (the attribute, which follows the content).
	oid := mustMarshal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 43})
	first := bytes.Index(msg, oid)
	second := bytes.Index(msg[first+1:], oid) + first + 1
	bad := bytes.Clone(msg)
	bad[second+len(oid)-1] = 42
	if _, err := Verify(bad, VerifyOptions{Signer: id.Cert}); !errors.Is(err, ErrSignature) {
		t.Fatalf("an attribute changed after signing: %v", err)
	}
	attrs, err := signedAttributes(oidData, make([]byte, 32), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(attrs); i++ {
		if bytes.Compare(attrs[i-1], attrs[i]) > 0 {
			t.Fatal("signed attributes are not in DER SET OF order")
		}
	}
}

func TestCertificatesOnlyRoundTrip(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	msg := mustCerts(t, p.root.Cert, p.inter.Cert)
	got, err := ParseCertificates(msg)
	if err != nil || len(got) != 2 || !got[0].Equal(p.root.Cert) || !got[1].Equal(p.inter.Cert) {
		t.Fatalf("%v, %d certificates", err, len(got))
	}
	if _, err := Certificates(nil); err == nil {
		t.Fatal("an empty certificate set was made")
	}
}

func TestWrapUnwrap(t *testing.T) {
	t.Parallel()
	msg, err := Wrap(TypeSZTPConveyedInfoJSON, conveyedJSON)
	if err != nil {
		t.Fatal(err)
	}
	ct, content, err := Unwrap(msg)
	if err != nil || ct != TypeSZTPConveyedInfoJSON || !bytes.Equal(content, conveyedJSON) {
		t.Fatalf("%v %s %q", err, ct, content)
	}
	signed, _ := Sign(conveyedJSON, getPKI(t).signers[keystore.P256].Cert, getPKI(t).signers[keystore.P256].Key, SignOptions{})
	if ct, content, err := Unwrap(signed); err != nil || ct != TypeSignedData || content != nil {
		t.Fatalf("signed: %v %s %v", err, ct, content)
	}
	if _, err := Wrap("not.an.oid", nil); err == nil {
		t.Fatal("a bad content type was accepted")
	}
}

// Seal with a content type: OpenContent returns it, so signed-then-
// encrypted SZTP artifacts (RFC 8572 section 3.4) can be told apart.
func TestSealContentType(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	dev := device(t, keystore.P256)
	signed, err := Sign(conveyedJSON, p.signers[keystore.P256].Cert, p.signers[keystore.P256].Key, SignOptions{ContentType: TypeSZTPConveyedInfoJSON})
	if err != nil {
		t.Fatal(err)
	}
	ict, inner, err := Inner(signed)
	if err != nil || ict != TypeSignedData {
		t.Fatalf("Inner: %s %v", ict, err)
	}
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		sealed, err := Seal(dev.Cert, inner, Options{Cipher: c, DER: true, ContentType: TypeSignedData})
		if err != nil {
			t.Fatal(err)
		}
		pt, ct, err := OpenContent(dev.Key, sealed)
		if err != nil || ct != TypeSignedData || !bytes.Equal(pt, inner) {
			t.Fatalf("%s: %v %s", c, err, ct)
		}
		rewrapped, err := WrapInner(ct, pt)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := Verify(rewrapped, VerifyOptions{Signer: p.signers[keystore.P256].Cert}); err != nil || !bytes.Equal(v.Content, conveyedJSON) {
			t.Fatalf("%s: the decrypted SignedData does not verify: %v", c, err)
		}
	}
	_, ct, err := OpenContent(dev.Key, mustSeal(t, dev.Cert))
	if err != nil || ct != TypeData {
		t.Fatalf("default content type %s, %v", ct, err)
	}
}

// cutContentInfo splits a ContentInfo into its type and content.
func cutContentInfo(t *testing.T, msg []byte) (asn1.ObjectIdentifier, []byte, error) {
	t.Helper()
	var ci contentInfo
	if _, err := asn1.Unmarshal(msg, &ci); err != nil {
		t.Fatal(err)
	}
	return ci.ContentType, ci.Content.Bytes, nil
}

func TestSignRefusesMismatchedKey(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	if _, err := Sign(conveyedJSON, p.signers[keystore.P256].Cert, p.signers[keystore.P384].Key, SignOptions{}); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("signed with a key that is not the certificate's: %v", err)
	}
}
