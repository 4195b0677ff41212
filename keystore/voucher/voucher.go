// Package voucher reads, checks and makes ownership vouchers (RFC 8366):
// the JSON of the ietf-voucher module's voucher container, signed in a CMS
// SignedData by the manufacturer's authorised signing authority (MASA),
// which SZTP (RFC 8572 section 3.3) sends a device together with the owner
// certificate so that the device can trust the owner's signature.
package voucher

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
)

// Assertions a voucher can make (RFC 8366 section 5.3, leaf assertion).
const (
	AssertionVerified  = "verified"
	AssertionLogged    = "logged"
	AssertionProximity = "proximity"
)

// Voucher is the content of an ietf-voucher:voucher container.
type Voucher struct {
	CreatedOn    time.Time // mandatory
	ExpiresOn    time.Time // zero when absent
	Assertion    string    // mandatory: verified, logged or proximity
	SerialNumber string    // mandatory
	IDevIDIssuer []byte    // the authority key identifier of the device's IDevID; nil when absent
	// PinnedDomainCert is the certificate the owner's certificate must
	// chain to (mandatory).
	PinnedDomainCert *x509.Certificate
	// DomainCertRevocationChecks is nil when absent.
	DomainCertRevocationChecks *bool
	Nonce                      []byte    // 8 to 32 bytes; nil when absent
	LastRenewalDate            time.Time // zero when absent
}

// Errors of Check and Open, for errors.Is.
var (
	// ErrInvalid means the voucher's JSON does not follow the module.
	ErrInvalid = errors.New("invalid voucher")
	// ErrSerial means the voucher is for another serial number.
	ErrSerial = errors.New("voucher is for another serial number")
	// ErrExpired means expires-on has passed.
	ErrExpired = errors.New("voucher has expired")
	// ErrNonce means the voucher's nonce is not the one the device sent.
	ErrNonce = errors.New("voucher nonce does not match")
	// ErrPinnedDomainCert means the owner certificate does not chain to
	// the voucher's pinned-domain-cert.
	ErrPinnedDomainCert = errors.New("owner certificate does not chain to the voucher's pinned-domain-cert")
	// ErrIDevIDIssuer means the voucher names another IDevID issuer.
	ErrIDevIDIssuer = errors.New("voucher is for an IDevID of another issuer")
)

// Checks are what a voucher is checked against, by the device or by a
// bootstrap server on the device's behalf (RFC 8366 section 5.3, RFC 8572
// section 5.4).
type Checks struct {
	Serial string
	// Nonce is the one the device sent; a voucher with a nonce must carry
	// exactly this one.
	Nonce []byte
	// Now is the time expires-on is checked at and owner certificates are
	// valid at; zero means the current time.
	Now time.Time
	// Owner is the owner's certificate, then any intermediates up to the
	// pinned-domain-cert. Nil skips the check.
	Owner []*x509.Certificate
	// IDevIDIssuer is the authority key identifier of the device's IDevID,
	// checked when both it and the voucher's idevid-issuer are present.
	IDevIDIssuer []byte
}

// Open verifies a voucher artifact (a CMS SignedData of content type
// id-ct-animaJSONVoucher, DER, PEM or base64) against the MASA trust
// anchors and returns the parsed voucher. It does not apply Checks.
func Open(artifact []byte, masaRoots *x509.CertPool, now time.Time) (*Voucher, *cms.Signed, error) {
	s, err := cms.Verify(decodeArtifact(artifact), cms.VerifyOptions{Roots: masaRoots, CurrentTime: now})
	if err != nil {
		return nil, nil, fmt.Errorf("voucher signature: %w", err)
	}
	if s.ContentType != cms.TypeVoucher {
		return nil, nil, fmt.Errorf("%w: content type %s is not a JSON voucher (%s)", ErrInvalid, s.ContentType, cms.TypeVoucher)
	}
	v, err := Parse(s.Content)
	if err != nil {
		return nil, nil, err
	}
	return v, s, nil
}

// Inspect reads a voucher artifact whose signature is intact, without
// deciding whether its signer is trusted (that is the device's part, with
// its MASA trust anchors): what a bootstrap server checks before it hands
// a voucher out, and what `sealboot sztp check` shows.
func Inspect(artifact []byte) (*Voucher, *cms.Signed, error) {
	s, err := cms.Verify(decodeArtifact(artifact), cms.VerifyOptions{AnySigner: true})
	if err != nil {
		return nil, nil, fmt.Errorf("voucher signature: %w", err)
	}
	if s.ContentType != cms.TypeVoucher {
		return nil, nil, fmt.Errorf("%w: content type %s is not a JSON voucher (%s)", ErrInvalid, s.ContentType, cms.TypeVoucher)
	}
	v, err := Parse(s.Content)
	if err != nil {
		return nil, nil, err
	}
	return v, s, nil
}

// DER returns a voucher artifact as DER, whichever of DER, PEM or base64
// it was given in (RFC 8572 sends it as DER, base64 in the JSON).
func DER(artifact []byte) ([]byte, error) {
	return cms.DER(decodeArtifact(artifact))
}

// Sign makes a voucher artifact, as a MASA does: the voucher's JSON signed
// by cert and key, with chain included. DER.
func Sign(v *Voucher, cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	data, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return cms.Sign(data, cert, key, cms.SignOptions{ContentType: cms.TypeVoucher, Chain: chain})
}
