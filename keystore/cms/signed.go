package cms

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// ContentType is a CMS content type, as its dotted object identifier.
type ContentType string

// Content types sealboot signs, seals and recognises (RFC 5652 section 4,
// RFC 8572 section 3.1, RFC 8366 section 8.3).
const (
	// TypeData is id-data, 1.2.840.113549.1.7.1: arbitrary octets.
	TypeData ContentType = "1.2.840.113549.1.7.1"
	// TypeSignedData is id-signedData, 1.2.840.113549.1.7.2.
	TypeSignedData ContentType = "1.2.840.113549.1.7.2"
	// TypeEnvelopedData is id-envelopedData, 1.2.840.113549.1.7.3.
	TypeEnvelopedData ContentType = "1.2.840.113549.1.7.3"
	// TypeVoucher is id-ct-animaJSONVoucher, 1.2.840.113549.1.9.16.1.40
	// (RFC 8366 section 8.3): an ownership voucher's JSON.
	TypeVoucher ContentType = "1.2.840.113549.1.9.16.1.40"
	// TypeSZTPConveyedInfoXML is id-ct-sztpConveyedInfoXML,
	// 1.2.840.113549.1.9.16.1.42 (RFC 8572 section 3.1).
	TypeSZTPConveyedInfoXML ContentType = "1.2.840.113549.1.9.16.1.42"
	// TypeSZTPConveyedInfoJSON is id-ct-sztpConveyedInfoJSON,
	// 1.2.840.113549.1.9.16.1.43 (RFC 8572 section 3.1).
	TypeSZTPConveyedInfoJSON ContentType = "1.2.840.113549.1.9.16.1.43"
)

// SignOptions tune Sign. The zero value signs id-data content with the
// signer's certificate included and the signing time set to now.
type SignOptions struct {
	// ContentType is the eContentType; empty means TypeData.
	ContentType ContentType
	// Chain are more certificates to include after the signer's, such as
	// the intermediates up to a trust anchor.
	Chain []*x509.Certificate
	// SigningTime is the signing-time attribute; zero means now.
	SigningTime time.Time
}

// Signed is a verified SignedData message.
type Signed struct {
	Content      []byte
	ContentType  ContentType
	Signer       *x509.Certificate
	Certificates []*x509.Certificate // every certificate the message carries
	SigningTime  time.Time           // zero when the message has none
	Chains       [][]*x509.Certificate
}

// VerifyOptions say whom to trust. Exactly one of Roots, Signer and
// AnySigner is needed.
type VerifyOptions struct {
	// Roots are trust anchors: the signer's certificate must chain to one,
	// through the certificates the message carries and Intermediates.
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	// Signer, when set, is the only certificate whose signature counts
	// (it need not be in the message).
	Signer *x509.Certificate
	// CurrentTime checks the chain's validity; zero means now.
	CurrentTime time.Time
	// KeyUsages the signer's certificate must allow; nil means any.
	KeyUsages []x509.ExtKeyUsage
	// AnySigner checks the signature with the certificate the message
	// carries for its signer, trusting nothing: for inspecting a message,
	// never for deciding to trust it.
	AnySigner bool
}

// Errors Verify returns, for errors.Is.
var (
	// ErrNotSigned means the message is not SignedData, or carries no
	// signer or no content.
	ErrNotSigned = errors.New("not a signed CMS message")
	// ErrSignature means a signature or digest does not match.
	ErrSignature = errors.New("signature does not verify")
	// ErrUntrusted means the signer is not the expected certificate or
	// does not chain to a trust anchor.
	ErrUntrusted = errors.New("signer is not trusted")
)

// Sign makes a CMS SignedData (RFC 5652 section 5) over content, signed by
// key whose certificate is signer, and returns its ContentInfo in DER. The
// signer is identified by issuer and serial number; its certificate and
// opts.Chain are included; the signed attributes are content-type,
// signing-time and message-digest. RSA keys sign with PKCS#1 v1.5 and
// SHA-256; ECDSA keys with SHA-256 (P-256), SHA-384 (P-384) or SHA-512
// (P-521). The output opens with `openssl cms -verify -binary`.
func Sign(content []byte, signer *x509.Certificate, key crypto.Signer, opts SignOptions) ([]byte, error) {
	return sign(content, signer, key, opts)
}

// Verify checks a CMS SignedData message (PEM with label CMS or PKCS7, DER
// or BER, as `openssl cms -sign` writes it) with exactly one signer, and
// returns its content. The signer's certificate must be opts.Signer or
// chain to opts.Roots.
func Verify(data []byte, opts VerifyOptions) (*Signed, error) {
	return verify(data, opts)
}

// Certificates makes a certificates-only SignedData (the "degenerate" form
// of RFC 5652 section 5.2, what `openssl crl2pkcs7 -nocrl` writes): how
// RFC 8572 conveys an owner certificate and trust anchors. DER.
func Certificates(certs []*x509.Certificate) ([]byte, error) {
	return certsOnly(certs)
}

// ParseCertificates returns the certificates of a SignedData message,
// degenerate or signed, without verifying anything.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	sd, err := parseSignedData(data)
	if err != nil {
		return nil, err
	}
	return sd.certs, nil
}

// Wrap puts content into a ContentInfo of type ct without signing or
// encrypting it (RFC 8572 section 3.1: unsigned conveyed information): the
// content as an OCTET STRING in [0]. DER.
func Wrap(ct ContentType, content []byte) ([]byte, error) {
	oid, err := ct.oid()
	if err != nil {
		return nil, err
	}
	return seq(mustMarshal(oid), explicit(0, octets(content))), nil
}

// Unwrap returns the content type of a ContentInfo and, for a type that is
// neither signed nor enveloped, its content (an OCTET STRING, or any other
// primitive value, in [0]). For SignedData and EnvelopedData content is
// nil: Verify or Open them.
func Unwrap(data []byte) (ct ContentType, content []byte, err error) {
	return unwrap(data)
}

// Inner returns a ContentInfo's type and its content's DER as CMS nests
// it: for SignedData, the SignedData itself, what an EnvelopedData of
// content type TypeSignedData encrypts (RFC 5652 section 6.1, RFC 8572
// section 3.4). WrapInner puts it back.
func Inner(msg []byte) (ContentType, []byte, error) {
	der, err := messageDER(msg)
	if err != nil {
		return "", nil, err
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return "", nil, fmt.Errorf("%w: bad ContentInfo", ErrNotCMS)
	}
	return ContentType(ci.ContentType.String()), ci.Content.Bytes, nil
}

// WrapInner puts nested content back into a ContentInfo of type ct: what a
// device does with the SignedData it decrypted before verifying it.
func WrapInner(ct ContentType, inner []byte) ([]byte, error) {
	oid, err := ct.oid()
	if err != nil {
		return nil, err
	}
	return seq(mustMarshal(oid), explicit(0, inner)), nil
}

// DER returns a CMS message given as PEM, S/MIME, DER or BER as DER.
func DER(data []byte) ([]byte, error) {
	return messageDER(data)
}

func (ct ContentType) oid() (asn1.ObjectIdentifier, error) {
	if ct == "" {
		return oidData, nil
	}
	return parseOID(string(ct))
}
