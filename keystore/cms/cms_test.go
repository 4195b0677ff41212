package cms

import (
	"bytes"
	"crypto/dsa" //nolint:staticcheck // refusing DSA keys is the point
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kt := range testKeyTypes {
		for _, c := range allCiphers {
			for _, der := range []bool{false, true} {
				variants := []Options{{Cipher: c, DER: der}}
				if strings.HasPrefix(string(kt), "rsa") {
					variants = append(variants, Options{Cipher: c, DER: der, OAEP: true})
				} else {
					variants = append(variants, Options{Cipher: c, DER: der, KDF: KDFSHA1})
				}
				for _, opts := range variants {
					t.Run(fmt.Sprintf("%s/%s/der=%v/oaep=%v/kdf=%s", kt, c, der, opts.OAEP, opts.KDF), func(t *testing.T) {
						t.Parallel()
						id := device(t, kt)
						sealed, err := Seal(id.Cert, sampleConfig, opts)
						if err != nil {
							t.Fatal(err)
						}
						if der == bytes.HasPrefix(sealed, []byte("-----BEGIN PKCS7-----")) {
							t.Fatalf("DER=%v but output starts %q", der, sealed[:16])
						}
						if !IsEnvelope(sealed) {
							t.Fatal("IsEnvelope(sealed) = false")
						}
						got, err := Open(id.Key, sealed)
						if err != nil || !bytes.Equal(got, sampleConfig) {
							t.Fatalf("Open: %v, %q", err, got)
						}
					})
				}
			}
		}
	}
}

func TestSealIsFreshEachTime(t *testing.T) {
	t.Parallel()
	id := device(t, keystore.P256)
	a, _ := Seal(id.Cert, sampleConfig, Options{})
	b, _ := Seal(id.Cert, sampleConfig, Options{})
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same config are identical: keys or IVs are not random")
	}
}

// Other libraries drop the leading zero bytes of the ECDH shared secret, so
// about 1 in 256 P-256 messages fail to open in OpenSSL. Many small seals
// make it near certain that some shared secrets start with zero.
func TestSealOpenManyEC(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() {
		n = 300
	}
	id := device(t, keystore.P256)
	for i := range n {
		msg := []byte(fmt.Sprintf("config %d\n", i))
		sealed, err := Seal(id.Cert, msg, Options{Cipher: AES128CBC, DER: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Open(id.Key, sealed)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestSealRefusesKeys(t *testing.T) {
	t.Parallel()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	var dsaKey dsa.PrivateKey
	_ = dsa.GenerateParameters(&dsaKey.Parameters, rand.Reader, dsa.L1024N160)
	_ = dsa.GenerateKey(&dsaKey, rand.Reader)
	tests := []struct {
		name string
		cert *x509.Certificate
		opts Options
		want string
	}{
		{"rsa 1024", &x509.Certificate{PublicKey: &small.PublicKey, PublicKeyAlgorithm: x509.RSA}, Options{}, "RSA key of 1024 bits is under 2048"},
		{"p224", &x509.Certificate{PublicKey: &p224.PublicKey, PublicKeyAlgorithm: x509.ECDSA}, Options{}, "curve P-224"},
		{"ed25519", &x509.Certificate{PublicKey: edPub, PublicKeyAlgorithm: x509.Ed25519}, Options{}, "Ed25519 keys can only sign"},
		{"dsa", &x509.Certificate{PublicKey: &dsaKey.PublicKey, PublicKeyAlgorithm: x509.DSA}, Options{}, "DSA keys are not supported"},
		{"nil cert", nil, Options{}, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Seal(tt.cert, sampleConfig, tt.opts)
			if !errors.Is(err, ErrUnsupportedKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrUnsupportedKey mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("small rsa allowed explicitly", func(t *testing.T) {
		t.Parallel()
		tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: x509Name("SMALL")}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &small.PublicKey, small)
		cert, _ := x509.ParseCertificate(der)
		sealed, err := Seal(cert, sampleConfig, Options{AllowSmallRSA: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Open(small, sealed); err != nil || !bytes.Equal(got, sampleConfig) {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestSealRejectsUnknownOptions(t *testing.T) {
	t.Parallel()
	id := device(t, keystore.P256)
	if _, err := Seal(id.Cert, sampleConfig, Options{Cipher: "des"}); err == nil || !strings.Contains(err.Error(), `unknown cipher "des"`) {
		t.Fatalf("cipher des: %v", err)
	}
	if _, err := Seal(id.Cert, sampleConfig, Options{KDF: "md5"}); err == nil || !strings.Contains(err.Error(), `unknown KDF "md5"`) {
		t.Fatalf("kdf md5: %v", err)
	}
}

func TestOpenWrongKey(t *testing.T) {
	t.Parallel()
	rsaA, rsaB := device(t, keystore.RSA2048), mustDevice(t, "OTHER-RSA", keystore.RSA2048)
	ecA, ecB := device(t, keystore.P256), mustDevice(t, "OTHER-EC", keystore.P256)
	ec384 := device(t, keystore.P384)
	tests := []struct {
		name string
		to   *keystore.DeviceIdentity
		key  any
		opts Options
		want error
	}{
		{"rsa other key", rsaA, rsaB.Key, Options{}, ErrDecrypt},
		{"rsa other key oaep", rsaA, rsaB.Key, Options{OAEP: true}, ErrDecrypt},
		{"rsa other key gcm", rsaA, rsaB.Key, Options{Cipher: AES256GCM}, ErrDecrypt},
		{"ec other key", ecA, ecB.Key, Options{}, ErrDecrypt},
		{"ec other key gcm", ecA, ecB.Key, Options{Cipher: AES128GCM}, ErrDecrypt},
		{"ec other curve", ecA, ec384.Key, Options{}, ErrNoRecipient},
		{"rsa key for ec message", ecA, rsaA.Key, Options{}, ErrNoRecipient},
		{"ec key for rsa message", rsaA, ecA.Key, Options{}, ErrNoRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := Seal(tt.to.Cert, sampleConfig, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(tt.key, sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	t.Parallel()
	id := device(t, keystore.P256)
	sealed, _ := Seal(id.Cert, sampleConfig, Options{DER: true})
	gcm, _ := Seal(id.Cert, sampleConfig, Options{DER: true, Cipher: AES256GCM})
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	edPriv := ed25519.NewKeyFromSeed(make([]byte, 32))
	tests := []struct {
		name string
		key  any
		data []byte
		want error
	}{
		{"plaintext", id.Key, sampleConfig, ErrNotCMS},
		{"empty", id.Key, nil, ErrNotCMS},
		{"truncated", id.Key, sealed[:len(sealed)/2], ErrNotCMS},
		{"other PEM", id.Key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}), ErrNotCMS},
		{"certificate DER", id.Key, id.Cert.Raw, ErrNotCMS},
		{"flipped ciphertext", id.Key, flip(sealed, len(sealed)-3), ErrDecrypt},
		{"flipped gcm tag", id.Key, flip(gcm, len(gcm)-1), ErrDecrypt},
		{"flipped gcm content", id.Key, flip(gcm, len(gcm)-40), ErrDecrypt},
		{"ed25519 key", edPriv, sealed, ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Open(tt.key, tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestIsEnvelope(t *testing.T) {
	t.Parallel()
	id := device(t, keystore.P256)
	pemMsg, _ := Seal(id.Cert, sampleConfig, Options{})
	derMsg, _ := Seal(id.Cert, sampleConfig, Options{DER: true, Cipher: AES128GCM})
	cmsLabel := bytes.Replace(pemMsg, []byte("PKCS7"), []byte("CMS"), 2)
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"pem pkcs7", pemMsg, true},
		{"pem cms label", cmsLabel, true},
		{"der auth enveloped", derMsg, true},
		{"ber indefinite", unhexT(t, "3080 06092a864886f70d010703 a080 3000 0000 0000"), true},
		{"plaintext config", sampleConfig, false},
		{"empty", nil, false},
		{"certificate", id.CertPEM, false},
		{"signed data oid", unhexT(t, "300b 06092a864886f70d010702"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsEnvelope(tt.data); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func mustDevice(t *testing.T, serial string, kt keystore.KeyType) *keystore.DeviceIdentity {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func unhexT(t *testing.T, s string) []byte { return unhex(t, s) }

func TestParsePrivateKeyFormats(t *testing.T) {
	t.Parallel()
	id := device(t, keystore.P256)
	rsaID := device(t, keystore.RSA2048)
	block, _ := pem.Decode(id.KeyPEM)
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"pkcs8 pem", id.KeyPEM, true},
		{"pkcs8 der", block.Bytes, true},
		{"rsa pkcs8 pem", rsaID.KeyPEM, true},
		{"certificate only", id.CertPEM, false},
		{"garbage", []byte("not a key"), false},
		{"empty", nil, false},
		{"encrypted pem header", []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParsePrivateKey(tt.data)
			if (err == nil) != tt.ok {
				t.Fatalf("got %T, %v; want ok=%v", k, err, tt.ok)
			}
		})
	}
}
