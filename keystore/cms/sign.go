package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Object identifiers of SignedData (RFC 5652, 5754, 3279, 8017).
var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// parseOID reads a dotted object identifier.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 20 {
		return nil, fmt.Errorf("content type %q is not an object identifier", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (i == 0 && n > 2) {
			return nil, fmt.Errorf("content type %q is not an object identifier", s)
		}
		oid[i] = n
	}
	return oid, nil
}

// signAlgorithm picks the digest and signature algorithm for key.
func signAlgorithm(key crypto.Signer) (crypto.Hash, []byte, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		// rsaEncryption with the digest named apart, as OpenSSL writes it
		// (RFC 3370 section 3.2): PKCS#1 v1.5.
		return crypto.SHA256, algID(oidRSAEncryption, derNull), nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return crypto.SHA256, algID(oidECDSAWithSHA256, nil), nil
		case elliptic.P384():
			return crypto.SHA384, algID(oidECDSAWithSHA384, nil), nil
		case elliptic.P521():
			return crypto.SHA512, algID(oidECDSAWithSHA512, nil), nil
		}
		return 0, nil, fmt.Errorf("%w: curve %s cannot sign", ErrUnsupportedKey, pub.Curve.Params().Name)
	}
	return 0, nil, fmt.Errorf("%w: %T keys cannot sign CMS here (RSA and ECDSA can)", ErrUnsupportedKey, key.Public())
}

func digestOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return oidSHA256
}

func sign(content []byte, signer *x509.Certificate, key crypto.Signer, opts SignOptions) ([]byte, error) {
	if signer == nil || key == nil {
		return nil, fmt.Errorf("%w: no signer", ErrUnsupportedKey)
	}
	if !publicKeysEqual(signer.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: the key does not belong to the signer's certificate", ErrUnsupportedKey)
	}
	ctOID, err := opts.ContentType.oid()
	if err != nil {
		return nil, err
	}
	hash, sigAlg, err := signAlgorithm(key)
	if err != nil {
		return nil, err
	}
	when := opts.SigningTime
	if when.IsZero() {
		when = time.Now()
	}
	h := hash.New()
	h.Write(content)
	attrs, err := signedAttributes(ctOID, h.Sum(nil), when)
	if err != nil {
		return nil, err
	}
	// RFC 5652 section 5.4: the signature covers the DER of the
	// attributes with the SET OF tag, not the [0] they are sent in.
	h = hash.New()
	h.Write(tlv(0x31, attrs...))
	sig, err := key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	digestAlg := algID(digestOID(hash), nil)
	si := seq(mustMarshal(1), issuerAndSerial(signer), digestAlg, tlv(0xa0, attrs...), sigAlg, octets(sig))
	certs := [][]byte{signer.Raw}
	for _, c := range opts.Chain {
		if c != nil && !bytes.Equal(c.Raw, signer.Raw) {
			certs = append(certs, c.Raw)
		}
	}
	// Version 3 when eContentType is not id-data, else 1 (section 5.1).
	version := 1
	if !ctOID.Equal(oidData) {
		version = 3
	}
	encap := seq(mustMarshal(ctOID), explicit(0, octets(content)))
	body := seq(mustMarshal(version), tlv(0x31, digestAlg), encap, tlv(0xa0, certs...), tlv(0x31, si))
	return seq(mustMarshal(oidSignedData), explicit(0, body)), nil
}

// signedAttributes are content-type, signing-time and message-digest, in
// DER order (a SET OF is sorted by encoding, X.690 section 11.6).
func signedAttributes(ct asn1.ObjectIdentifier, digest []byte, when time.Time) ([][]byte, error) {
	var t []byte
	var err error
	// RFC 5652 section 11.3: UTCTime from 1950 to 2049, else GeneralizedTime.
	if y := when.UTC().Year(); y >= 1950 && y < 2050 {
		t, err = asn1.MarshalWithParams(when.UTC(), "utc")
	} else {
		t, err = asn1.MarshalWithParams(when.UTC(), "generalized")
	}
	if err != nil {
		return nil, fmt.Errorf("signing time: %w", err)
	}
	attrs := [][]byte{
		seq(mustMarshal(oidAttrContentType), tlv(0x31, mustMarshal(ct))),
		seq(mustMarshal(oidAttrSigningTime), tlv(0x31, t)),
		seq(mustMarshal(oidAttrDigest), tlv(0x31, octets(digest))),
	}
	slices.SortFunc(attrs, bytes.Compare)
	return attrs, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// certsOnly is a SignedData with no content and no signers, version 1.
func certsOnly(certs []*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificates to convey")
	}
	raw := make([][]byte, 0, len(certs))
	for _, c := range certs {
		if c == nil {
			return nil, fmt.Errorf("nil certificate")
		}
		raw = append(raw, c.Raw)
	}
	encap := seq(mustMarshal(oidData))
	body := seq(mustMarshal(1), tlv(0x31), encap, tlv(0xa0, raw...), tlv(0x31))
	return seq(mustMarshal(oidSignedData), explicit(0, body)), nil
}
