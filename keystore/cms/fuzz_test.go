package cms

import (
	"crypto/x509"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// FuzzOpen feeds arbitrary bytes, seeded with real messages of every kind,
// to Open with an RSA and an EC key: it must never panic.
func FuzzOpen(f *testing.F) {
	rsaID := device(f, keystore.RSA2048)
	ecID := device(f, keystore.P256)
	for _, id := range []*keystore.DeviceIdentity{rsaID, ecID} {
		for _, c := range allCiphers {
			for _, opts := range []Options{{Cipher: c}, {Cipher: c, DER: true}, {Cipher: c, OAEP: true, DER: true}} {
				m, err := Seal(id.Cert, sampleConfig, opts)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(m)
			}
		}
	}
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add([]byte("MIME-Version: 1.0\nContent-Type: application/pkcs7-mime\n\nMIAGCSqGSIb3DQEHA6CAMAA=\n"))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80, 0, 0, 0, 0})
	f.Add(sampleConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range []any{rsaID.Key, ecID.Key} {
			if pt, err := Open(key, data); err == nil && pt == nil {
				t.Fatal("Open returned neither plaintext nor error")
			}
		}
		_ = IsEnvelope(data)
	})
}

// FuzzIsEnvelope must never panic and must agree with Open on garbage: a
// message IsEnvelope rejects is never opened.
func FuzzIsEnvelope(f *testing.F) {
	id := device(f, keystore.P256)
	m, _ := Seal(id.Cert, sampleConfig, Options{DER: true})
	f.Add(m)
	f.Add(sampleConfig)
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if !IsEnvelope(data) {
			if _, err := Open(id.Key, data); err == nil && len(data) > 0 && data[0] == 0x30 {
				t.Fatalf("Open succeeded on a DER message IsEnvelope rejected")
			}
		}
	})
}

// FuzzParsePrivateKey must never panic.
func FuzzParsePrivateKey(f *testing.F) {
	f.Add(device(f, keystore.P256).KeyPEM)
	f.Add(device(f, keystore.RSA2048).KeyPEM)
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParsePrivateKey(data)
	})
}

// FuzzVerify feeds arbitrary bytes, seeded with signed, certificates-only
// and wrapped messages, to Verify, ParseCertificates and Unwrap: they must
// never panic, and Verify must never accept a message it was not given a
// valid signature for.
func FuzzVerify(f *testing.F) {
	p := getPKI(f)
	id := p.signers[keystore.P256]
	for _, ct := range []ContentType{TypeData, TypeSZTPConveyedInfoJSON, TypeVoucher} {
		m, err := Sign(conveyedJSON, id.Cert, id.Key, SignOptions{ContentType: ct, Chain: []*x509.Certificate{p.inter.Cert}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	rsa := p.signers[keystore.RSA2048]
	m, _ := Sign(conveyedJSON, rsa.Cert, rsa.Key, SignOptions{})
	f.Add(m)
	c, _ := Certificates([]*x509.Certificate{p.root.Cert})
	f.Add(c)
	w, _ := Wrap(TypeSZTPConveyedInfoJSON, conveyedJSON)
	f.Add(w)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0, 0, 0, 0})
	roots := p.roots()
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := Verify(data, VerifyOptions{Roots: roots}); err == nil {
			if s.Signer == nil || s.Content == nil || len(s.Chains) == 0 {
				t.Fatal("verified without a signer, content or chain")
			}
		}
		_, _ = Verify(data, VerifyOptions{Signer: id.Cert})
		_, _ = ParseCertificates(data)
		_, _, _ = Unwrap(data)
	})
}
