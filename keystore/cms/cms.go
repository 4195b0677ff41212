// Package cms seals data to a device certificate and opens it again with the
// device's private key, as RFC 8886 section 4.1 requires: a CMS (RFC 5652)
// EnvelopedData, or AuthEnvelopedData (RFC 5083) for AES-GCM, with a single
// recipient.
//
// RSA recipients use KeyTransRecipientInfo (PKCS#1 v1.5 or RSAES-OAEP); EC
// recipients on P-256, P-384 and P-521 use KeyAgreeRecipientInfo with
// ephemeral-static ECDH (RFC 5753), the X9.63 KDF and AES key wrap (RFC 3394).
// The output opens with `openssl cms -decrypt` (and `openssl smime -decrypt`
// for RSA with PKCS#1 v1.5 and AES-CBC); Open reads what `openssl cms` and
// `openssl smime` write.
//
// Only the standard library is used.
package cms

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// Cipher names a content-encryption algorithm.
type Cipher string

// Content ciphers Seal accepts. AES256CBC is the default, the one RFC 8886
// Appendix A uses.
const (
	AES128CBC Cipher = "aes128-cbc"
	AES192CBC Cipher = "aes192-cbc"
	AES256CBC Cipher = "aes256-cbc"
	AES128GCM Cipher = "aes128-gcm"
	AES256GCM Cipher = "aes256-gcm"
)

// KDF names the hash of the X9.63 key derivation for EC recipients.
type KDF string

// KDF hashes Seal accepts for EC recipients. SHA256 is the default.
const (
	KDFSHA1   KDF = "sha1"
	KDFSHA256 KDF = "sha256"
)

// Options tune Seal. The zero value seals with AES-256-CBC, PKCS#1 v1.5 for
// RSA, the SHA-256 X9.63 KDF for EC, and PEM output labelled PKCS7.
type Options struct {
	Cipher Cipher // content cipher; empty means AES256CBC
	OAEP   bool   // RSA only: RSAES-OAEP with SHA-256 instead of PKCS#1 v1.5
	KDF    KDF    // EC only: empty means KDFSHA256
	DER    bool   // write DER instead of PEM
	// AllowSmallRSA accepts RSA keys under 2048 bits.
	AllowSmallRSA bool
	// ContentType is the type of what is encrypted (the encrypted content
	// info's contentType); empty means TypeData. RFC 8572 section 3.4
	// encrypts conveyed information (TypeSZTPConveyedInfoJSON) or, when it
	// is signed, the SignedData (TypeSignedData: plaintext is then the
	// SignedData itself, without its ContentInfo, as RFC 5652 nests
	// content).
	ContentType ContentType
}

// Errors callers can test for with errors.Is.
var (
	// ErrUnsupportedKey means the certificate's key cannot receive
	// encrypted data (Ed25519, DSA, an unsupported curve, a small RSA key).
	ErrUnsupportedKey = errors.New("key cannot receive encrypted data")
	// ErrNotCMS means the input is not a CMS or PKCS#7 structure.
	ErrNotCMS = errors.New("not a CMS message")
	// ErrNoRecipient means no recipient in the message matches the key.
	ErrNoRecipient = errors.New("message is not encrypted to this key")
	// ErrDecrypt means a recipient matched but decryption failed (wrong
	// key, corrupted data, failed integrity check).
	ErrDecrypt = errors.New("decryption failed")
)

// Seal encrypts plaintext to the public key in cert.
func Seal(cert *x509.Certificate, plaintext []byte, opts Options) ([]byte, error) {
	return seal(cert, plaintext, opts)
}

// Open decrypts a CMS EnvelopedData or AuthEnvelopedData message, PEM (label
// PKCS7 or CMS), DER or BER, with key (*rsa.PrivateKey or *ecdsa.PrivateKey).
//
// Without the recipient's certificate the recipient identifier cannot be
// matched, so every recipient of the key's type is tried, as `openssl cms
// -decrypt -inkey KEY` does. A wrong key gives ErrDecrypt (or ErrNoRecipient
// when no recipient uses this kind of key); malformed input gives ErrNotCMS.
func Open(key crypto.PrivateKey, data []byte) ([]byte, error) {
	return open(key, data)
}

// OpenContent is Open that also returns the type of the content that was
// encrypted (TypeData for what openssl encrypts; TypeSignedData or an SZTP
// type for RFC 8572 artifacts).
func OpenContent(key crypto.PrivateKey, data []byte) ([]byte, ContentType, error) {
	return openTyped(key, data)
}

// IsEnvelope reports whether data looks like a CMS/PKCS#7 enveloped message
// (PEM or DER/BER), without decrypting it. The emulated device uses it to tell
// an encrypted config from a plaintext one.
func IsEnvelope(data []byte) bool {
	return isEnvelope(data)
}

// ParsePrivateKey reads a private key in PEM: PKCS#1 (RSA PRIVATE KEY),
// PKCS#8 (PRIVATE KEY) or SEC 1 (EC PRIVATE KEY), skipping an EC PARAMETERS
// block such as `openssl ecparam -genkey` writes.
// DER (PKCS#8, PKCS#1, SEC 1) is accepted too. Encrypted keys are refused
// with an error saying so.
func ParsePrivateKey(pemData []byte) (crypto.PrivateKey, error) {
	return parsePrivateKey(pemData)
}
