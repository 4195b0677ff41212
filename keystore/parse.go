package keystore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
)

// Fingerprint is the SHA-256 of a certificate's SubjectPublicKeyInfo: the
// pinned identity of a device key (RFC 8886 section 3).
type Fingerprint [32]byte

// String is the lower-case hex form used in logs and the pin database.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// ParseFingerprint reads the hex form.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, fmt.Errorf("invalid fingerprint %q", s)
	}
	copy(f[:], b)
	return f, nil
}

// SPKIFingerprint returns the fingerprint of cert's public key.
func SPKIFingerprint(cert *x509.Certificate) Fingerprint {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// ValidSerial reports whether s is usable as a device serial: 1 to 64 of
// letters, digits, '.', '_' and '-', starting with a letter or a digit.
// Serials become TFTP file names (never hidden ones, never "." or "..")
// and log fields ("-" stands for no serial in the lease journal).
func ValidSerial(s string) bool {
	if len(s) == 0 || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ErrNotCertificate means the data holds no certificate.
var ErrNotCertificate = errors.New("no certificate found")

// ParseCertificate reads a device's certificate, PEM or DER: alone, or
// followed by its chain (ParseBundle picks the leaf). A PKCS#7 bundle
// needs the store's parser (Options.PKCS7).
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	b, err := ParseBundle(data, "", nil)
	if err != nil {
		return nil, err
	}
	return b.Leaf, nil
}

// SubjectSerial maps a certificate to a device serial: the subject's
// serialNumber attribute (2.5.4.5) if present, else its common name (RFC
// 8886 Appendix A uses CN = serial).
func SubjectSerial(cert *x509.Certificate) (string, error) {
	s := cert.Subject.SerialNumber
	if s == "" {
		s = cert.Subject.CommonName
	}
	if !ValidSerial(s) {
		return "", fmt.Errorf("subject serial %q is not a usable serial number (letters, digits, '.', '_', '-', at most 64)", s)
	}
	return s, nil
}

// KeyTypeName describes cert's key, e.g. "P-256" or "RSA-2048".
func KeyTypeName(cert *x509.Certificate) string {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return cert.PublicKeyAlgorithm.String()
}

// usableKey reports why cert's key cannot receive encrypted data, if it
// cannot (RFC 8886 section 3 needs an encryption-capable key).
func usableKey(cert *x509.Certificate, allowSmallRSA bool) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 && !allowSmallRSA {
			return fmt.Errorf("RSA key of %d bits is under 2048", k.N.BitLen())
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
			return nil
		}
		return fmt.Errorf("curve %s is not supported (P-256, P-384, P-521 are)", k.Curve.Params().Name)
	}
	return fmt.Errorf("%s keys cannot receive encrypted data", KeyTypeName(cert))
}
