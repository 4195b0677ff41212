// Package appliance is sealboot's own key pair: configs sealed centrally to
// its certificate sit in a POP's configs directory as ciphertext and are
// opened in memory only, when a device needs one (RFC 8886 section 7: a
// config stays confidential at rest on the config server).
package appliance

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// Appliance is the loaded key pair. It is safe for concurrent use.
type Appliance struct {
	key  crypto.PrivateKey
	cert *x509.Certificate
}

// Generate makes an appliance key pair of type kt with a
// self-signed certificate whose subject CN is name. The certificate is what
// the central side seals configs to; its validity has no meaning here, as
// for device certificates.
func Generate(name string, kt keystore.KeyType) (*keystore.DeviceIdentity, error) {
	if name == "" {
		return nil, errors.New("generate appliance key: empty name")
	}
	id, err := keystore.GenerateDevice(name, kt)
	if err != nil {
		return nil, fmt.Errorf("generate appliance key: %w", err)
	}
	return id, nil
}

// Load reads the appliance's private key (PEM or DER, not
// encrypted) and its certificate (PEM or DER) and checks that they belong
// together and that the key can open configs (RSA or EC).
func Load(keyFile, certFile string) (*Appliance, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("appliance key: %w", err)
	}
	key, err := cms.ParsePrivateKey(kb)
	clear(kb)
	if err != nil {
		return nil, fmt.Errorf("appliance key %s: %w", keyFile, err)
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("appliance certificate: %w", err)
	}
	cert, err := keystore.ParseCertificate(cb)
	if err != nil {
		return nil, fmt.Errorf("appliance certificate %s: %w", certFile, err)
	}
	return New(key, cert)
}

// New checks that key is cert's private key and can open
// configs (RSA or EC).
func New(key crypto.PrivateKey, cert *x509.Certificate) (*Appliance, error) {
	var pub crypto.PublicKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		return nil, fmt.Errorf("appliance key: %T cannot open configs (want RSA or EC)", key)
	}
	want, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("appliance key: %w", err)
	}
	if !bytes.Equal(want, cert.RawSubjectPublicKeyInfo) {
		return nil, errors.New("appliance key and certificate do not match: the certificate holds another public key")
	}
	return &Appliance{key: key, cert: cert}, nil
}

// Certificate is the appliance's certificate.
func (a *Appliance) Certificate() *x509.Certificate { return a.cert }

// Fingerprint is the hex SHA-256 of the certificate's public key.
func (a *Appliance) Fingerprint() string { return keystore.SPKIFingerprint(a.cert).String() }

// Open decrypts a config sealed to the appliance. The plaintext is the
// caller's, to keep in memory only.
func (a *Appliance) Open(data []byte) ([]byte, error) {
	return cms.Open(a.key, data)
}
