package sztp

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/keystore/voucher"
)

// DeviceTrust is what a device holds to check a bootstrap server's answer
// (RFC 8572 section 5.1): its serial and private key, the trust anchors
// for ownership vouchers, and the nonce it sent.
type DeviceTrust struct {
	Serial       string
	Key          crypto.PrivateKey // to decrypt; nil: encrypted answers fail
	MASARoots    *x509.CertPool    // to verify vouchers; nil: signed answers fail
	IDevIDIssuer []byte            // the authority key identifier of its IDevID, if any
	Nonce        []byte            // the nonce of the request, if one was sent
	Now          time.Time         // zero: now
}

// Received is conveyed information a device accepted, and how it came.
type Received struct {
	Info      *ConveyedInformation
	Format    Format
	Signed    bool
	Encrypted bool
	Owner     *x509.Certificate // the owner certificate that signed, when Signed
	Voucher   *voucher.Voucher  // when Signed
}

// Errors of Open, for errors.Is.
var (
	// ErrNotTrusted means a signature, a voucher or the owner certificate
	// does not verify.
	ErrNotTrusted = errors.New("conveyed information is not trusted")
)

// Open does what a device does with get-bootstrapping-data's output (RFC
// 8572 sections 3 and 5.4): decrypt the conveyed information with its key
// when it is encrypted; when it is signed, verify the ownership voucher
// against the MASA trust anchors and its own serial and nonce, the owner
// certificate against the voucher's pinned-domain-cert, and the signature
// with the owner certificate; then decode it. Whether unsigned information
// may be used (a trusted bootstrap server) is the caller's decision.
func Open(out *GetBootstrappingDataOutput, t DeviceTrust) (*Received, error) {
	rec := &Received{}
	msg := out.ConveyedInformation
	ct, _, err := cms.Unwrap(msg)
	if err != nil {
		return nil, fmt.Errorf("conveyed information: %w", err)
	}
	if ct == cms.TypeEnvelopedData || ct == authEnveloped {
		if msg, ct, err = decrypt(msg, t.Key); err != nil {
			return nil, err
		}
		rec.Encrypted = true
	}
	var content []byte
	if ct == cms.TypeSignedData {
		if content, ct, err = verifySigned(msg, out, t, rec); err != nil {
			return nil, err
		}
	} else if _, content, err = cms.Unwrap(msg); err != nil {
		return nil, fmt.Errorf("conveyed information: %w", err)
	}
	switch ct {
	case cms.TypeSZTPConveyedInfoJSON:
		rec.Format = JSON
	case cms.TypeSZTPConveyedInfoXML:
		rec.Format = XML
	default:
		return nil, fmt.Errorf("conveyed information of content type %s", ct)
	}
	if rec.Info, err = DecodeConveyedInformation(content, rec.Format); err != nil {
		return nil, err
	}
	return rec, nil
}

// authEnveloped is id-ct-authEnvelopedData (RFC 5083), AES-GCM.
const authEnveloped cms.ContentType = "1.2.840.113549.1.9.16.1.23"

// decrypt opens an encrypted artifact and returns the ContentInfo inside:
// the conveyed information, or a SignedData put back in a ContentInfo.
func decrypt(msg []byte, key crypto.PrivateKey) ([]byte, cms.ContentType, error) {
	if key == nil {
		return nil, "", errors.New("conveyed information is encrypted and the device has no key")
	}
	pt, ct, err := cms.OpenContent(key, msg)
	if err != nil {
		return nil, "", fmt.Errorf("decrypt conveyed information: %w", err)
	}
	// A sender that encrypted a whole ContentInfo (as openssl cms -encrypt
	// of a signed message does) is accepted too.
	if ict, _, err := cms.Unwrap(pt); err == nil && (ict == cms.TypeSignedData || ct == cms.TypeData) {
		return pt, ict, nil
	}
	var wrapped []byte
	if ct == cms.TypeSignedData {
		wrapped, err = cms.WrapInner(ct, pt) // a SignedData, as CMS nests it
	} else {
		wrapped, err = cms.Wrap(ct, pt) // the conveyed information's octets
	}
	if err != nil {
		return nil, "", err
	}
	return wrapped, ct, nil
}

// verifySigned checks the voucher, the owner certificate and the signature,
// and returns the signed content and its type.
func verifySigned(msg []byte, out *GetBootstrappingDataOutput, t DeviceTrust, rec *Received) ([]byte, cms.ContentType, error) {
	if out.OwnerCertificate == nil || out.OwnershipVoucher == nil {
		return nil, "", fmt.Errorf("%w: signed without an owner certificate and a voucher", ErrNotTrusted)
	}
	if t.MASARoots == nil {
		return nil, "", fmt.Errorf("%w: the device has no voucher trust anchors", ErrNotTrusted)
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	v, _, err := voucher.Open(out.OwnershipVoucher, t.MASARoots, now)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrNotTrusted, err)
	}
	owners, err := cms.ParseCertificates(out.OwnerCertificate)
	if err != nil {
		return nil, "", fmt.Errorf("%w: owner certificate: %v", ErrNotTrusted, err)
	}
	for i, oc := range owners {
		s, err := cms.Verify(msg, cms.VerifyOptions{Signer: oc})
		if err != nil {
			continue
		}
		chain := append([]*x509.Certificate{oc}, append(append([]*x509.Certificate{}, owners[:i]...), owners[i+1:]...)...)
		if err := v.Check(voucher.Checks{Serial: t.Serial, Nonce: t.Nonce, Now: now, Owner: chain, IDevIDIssuer: t.IDevIDIssuer}); err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrNotTrusted, err)
		}
		rec.Signed, rec.Owner, rec.Voucher = true, oc, v
		return s.Content, s.ContentType, nil
	}
	return nil, "", fmt.Errorf("%w: no owner certificate verifies the signature", ErrNotTrusted)
}
