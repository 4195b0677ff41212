package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// KeyType names a device key algorithm and size.
type KeyType string

// Key types a device can be made with (RFC 8886 Appendix A.1 uses P-256).
const (
	P256    KeyType = "p256"
	P384    KeyType = "p384"
	P521    KeyType = "p521"
	RSA2048 KeyType = "rsa2048"
	RSA3072 KeyType = "rsa3072"
	RSA4096 KeyType = "rsa4096"
)

// KeyTypes lists every KeyType, in the order help texts show them.
var KeyTypes = []KeyType{P256, P384, P521, RSA2048, RSA3072, RSA4096}

// DeviceIdentity is what a factory puts into a device: a private key and a
// self-signed certificate whose subject CN is the serial number.
type DeviceIdentity struct {
	Key     crypto.Signer
	Cert    *x509.Certificate
	KeyPEM  []byte // PKCS#8, label PRIVATE KEY
	CertPEM []byte // label CERTIFICATE
}

// GenerateDevice performs the factory step of RFC 8886 section 3.1 and
// Appendix A.1: a new key pair of type kt and a self-signed certificate with
// subject CN = serial. Validity is ten years; RFC 8886 section 3 gives it no
// meaning.
func GenerateDevice(serial string, kt KeyType) (*DeviceIdentity, error) {
	if serial == "" {
		return nil, fmt.Errorf("generate device key: empty serial")
	}
	key, err := newKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate device key for %s: %w", serial, err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("subject key identifier for %s: %w", serial, err)
	}
	now := time.Now().UTC()
	tmpl := &x509.Certificate{
		SubjectKeyId:          ski,
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: serial},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign certificate for %s: %w", serial, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse generated certificate for %s: %w", serial, err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key for %s: %w", serial, err)
	}
	return &DeviceIdentity{
		Key:     key,
		Cert:    cert,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits, RFC 5280 section
// 4.2.1.2 method 1, as vendors and OpenSSL compute it.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func newKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key type %q (want one of %v)", kt, KeyTypes)
}
