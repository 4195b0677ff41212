package cms

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// Recipient is one recipient of an enveloped message as its header names
// it (RFC 5652 section 6.2), read without decrypting anything.
type Recipient struct {
	// Kind is the RecipientInfo choice: "ktri" (key transport, RSA),
	// "kari" (key agreement, EC), "kekri", "pwri" or "ori".
	Kind string
	// Issuer and Serial are set when the recipient is named by
	// IssuerAndSerialNumber: the DER of the certificate's issuer Name,
	// and its serial number.
	Issuer []byte
	Serial *big.Int
	// KeyID is set when it is named by a subject key identifier (ktri
	// [0], or kari rKeyId).
	KeyID []byte
	// Originator describes a kari's originator (RFC 5652 section 6.2.2):
	// "ephemeral key", or the sender's certificate.
	Originator string
}

// String names the recipient for a log line, as an operator compares it
// with `openssl x509 -noout -issuer -serial -ext subjectKeyIdentifier`.
func (r Recipient) String() string {
	switch {
	case r.Serial != nil:
		return fmt.Sprintf("%s issuer %q serial %s", r.Kind, issuerString(r.Issuer), hexSerial(r.Serial))
	case r.KeyID != nil:
		return fmt.Sprintf("%s subject key id %s", r.Kind, hex.EncodeToString(r.KeyID))
	}
	return r.Kind
}

// Matches reports whether the recipient names cert: its issuer and serial
// number, or its subject key identifier (the certificate's extension, or
// RFC 5280 section 4.2.1.2 method 1 computed from its key, as OpenSSL
// writes with -keyid when the extension is absent).
func (r Recipient) Matches(cert *x509.Certificate) bool {
	switch {
	case r.Serial != nil:
		return bytes.Equal(r.Issuer, cert.RawIssuer) && r.Serial.Cmp(cert.SerialNumber) == 0
	case r.KeyID != nil:
		if len(cert.SubjectKeyId) > 0 && bytes.Equal(r.KeyID, cert.SubjectKeyId) {
			return true
		}
		ski := subjectKeyID(cert.PublicKey)
		return ski != nil && bytes.Equal(r.KeyID, ski)
	}
	return false
}

// Recipients reads the recipients of an EnvelopedData or
// AuthEnvelopedData message (PEM, DER or BER, as Open reads), without a
// key. Malformed input gives ErrNotCMS.
func Recipients(data []byte) ([]Recipient, error) {
	if len(data) > maxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes is too large", ErrNotCMS, len(data))
	}
	der, err := messageDER(data)
	if err != nil {
		return nil, err
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: bad ContentInfo", ErrNotCMS)
	}
	var ris []asn1.RawValue
	switch {
	case ci.ContentType.Equal(oidEnvelopedData):
		var ed envelopedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
			return nil, fmt.Errorf("%w: bad EnvelopedData: %v", ErrNotCMS, err)
		}
		ris = ed.RecipientInfos
	case ci.ContentType.Equal(oidAuthEnvelopedData): // RFC 5083 section 2.1: the same RecipientInfos
		var ad authEnvelopedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &ad); err != nil {
			return nil, fmt.Errorf("%w: bad AuthEnvelopedData: %v", ErrNotCMS, err)
		}
		ris = ad.RecipientInfos
	default:
		return nil, fmt.Errorf("%w: content type %v is not enveloped data", ErrNotCMS, ci.ContentType)
	}
	var out []Recipient
	for _, ri := range ris {
		rs, err := recipientsOf(ri)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrNotCMS)
	}
	return out, nil
}

// SealedTo reports whether one of the message's recipients is cert, and
// returns them all (for the reason when it is not).
func SealedTo(data []byte, cert *x509.Certificate) (bool, []Recipient, error) {
	rs, err := Recipients(data)
	if err != nil {
		return false, nil, err
	}
	for _, r := range rs {
		if r.Matches(cert) {
			return true, rs, nil
		}
	}
	return false, rs, nil
}

// Describe names a certificate the way Recipient.String names a
// recipient: issuer, serial number and subject key identifier.
func Describe(cert *x509.Certificate) string {
	ski := cert.SubjectKeyId
	if len(ski) == 0 {
		ski = subjectKeyID(cert.PublicKey)
	}
	return fmt.Sprintf("issuer %q serial %s subject key id %s", issuerString(cert.RawIssuer), hexSerial(cert.SerialNumber), hex.EncodeToString(ski))
}

// recipientsOf reads one RecipientInfo (RFC 5652 section 6.2): a kari
// may name several recipients.
func recipientsOf(ri asn1.RawValue) ([]Recipient, error) {
	switch {
	case ri.Class == asn1.ClassUniversal && ri.Tag == asn1.TagSequence: // ktri, section 6.2.1
		var k keyTransRI
		if _, err := asn1.Unmarshal(ri.FullBytes, &k); err != nil {
			return nil, fmt.Errorf("%w: bad KeyTransRecipientInfo", ErrNotCMS)
		}
		r, err := recipientID("ktri", k.RID)
		if err != nil {
			return nil, err
		}
		return []Recipient{r}, nil
	case ri.Class == asn1.ClassContextSpecific && ri.Tag == 1: // kari, section 6.2.2
		return kariRecipients(ri.FullBytes)
	case ri.Class == asn1.ClassContextSpecific && ri.Tag >= 2 && ri.Tag <= 4:
		return []Recipient{{Kind: []string{"kekri", "pwri", "ori"}[ri.Tag-2]}}, nil
	}
	return nil, fmt.Errorf("%w: unknown RecipientInfo", ErrNotCMS)
}

func kariRecipients(raw []byte) ([]Recipient, error) {
	b := append([]byte{0x30}, raw[1:]...) // [1] IMPLICIT SEQUENCE → SEQUENCE
	var k keyAgreeRI
	if _, err := asn1.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%w: bad KeyAgreeRecipientInfo", ErrNotCMS)
	}
	orig := "ephemeral key"
	if o := k.Originator; !(o.Class == asn1.ClassContextSpecific && o.Tag == 1) {
		if r, err := recipientID("originator", o); err == nil {
			orig = r.String()
		}
	}
	out := make([]Recipient, 0, len(k.Keys))
	for _, rek := range k.Keys {
		rid := rek.RID
		if rid.Class == asn1.ClassContextSpecific && rid.Tag == 0 {
			// rKeyId [0] IMPLICIT RecipientKeyIdentifier: SKI, date, other.
			var ski []byte
			if _, err := asn1.Unmarshal(rid.Bytes, &ski); err != nil {
				return nil, fmt.Errorf("%w: bad RecipientKeyIdentifier", ErrNotCMS)
			}
			out = append(out, Recipient{Kind: "kari", KeyID: ski, Originator: orig})
			continue
		}
		r, err := recipientID("kari", rid)
		if err != nil {
			return nil, err
		}
		r.Originator = orig
		out = append(out, r)
	}
	return out, nil
}

// recipientID reads a RecipientIdentifier or OriginatorIdentifierOrKey:
// IssuerAndSerialNumber (a SEQUENCE) or [0] SubjectKeyIdentifier.
func recipientID(kind string, rid asn1.RawValue) (Recipient, error) {
	switch {
	case rid.Class == asn1.ClassUniversal && rid.Tag == asn1.TagSequence:
		var ias struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}
		if _, err := asn1.Unmarshal(rid.FullBytes, &ias); err != nil || ias.Serial == nil {
			return Recipient{}, fmt.Errorf("%w: bad IssuerAndSerialNumber", ErrNotCMS)
		}
		return Recipient{Kind: kind, Issuer: ias.Issuer.FullBytes, Serial: ias.Serial}, nil
	case rid.Class == asn1.ClassContextSpecific && rid.Tag == 0:
		return Recipient{Kind: kind, KeyID: append([]byte{}, rid.Bytes...)}, nil
	}
	return Recipient{}, fmt.Errorf("%w: bad recipient identifier", ErrNotCMS)
}

func issuerString(der []byte) string {
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		return "?"
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String()
}

func hexSerial(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}
