package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// Bounds on what the SignedData reader accepts.
const (
	maxCertificates = 32
	maxSigners      = 8
	maxAttributes   = 32
)

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue `asn1:"set"`
	EncapContentInfo struct {
		EContentType asn1.ObjectIdentifier
		EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
	}
	Certificates asn1.RawValue   `asn1:"optional,tag:0"`
	CRLs         asn1.RawValue   `asn1:"optional,tag:1"`
	SignerInfos  []asn1.RawValue `asn1:"set"`
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// parsed is a SignedData read from the wire.
type parsed struct {
	ct      asn1.ObjectIdentifier
	content []byte // nil when absent (detached or certificates only)
	certs   []*x509.Certificate
	signers []asn1.RawValue
}

func parseSignedData(data []byte) (*parsed, error) {
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
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: content type %v", ErrNotSigned, ci.ContentType)
	}
	var sd signedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: bad SignedData", ErrNotCMS)
	}
	p := &parsed{ct: sd.EncapContentInfo.EContentType, signers: sd.SignerInfos}
	if len(p.signers) > maxSigners {
		return nil, fmt.Errorf("%w: %d signers", ErrNotCMS, len(p.signers))
	}
	if ec := sd.EncapContentInfo.EContent; len(ec.FullBytes) > 0 {
		var octs []byte
		if rest, err := asn1.Unmarshal(ec.Bytes, &octs); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("%w: eContent is not an OCTET STRING", ErrNotCMS)
		}
		p.content = octs
		if p.content == nil {
			p.content = []byte{}
		}
	}
	if p.certs, err = parseCertSet(sd.Certificates.Bytes); err != nil {
		return nil, err
	}
	return p, nil
}

// parseCertSet reads the certificates of a CertificateSet; other choices
// (attribute certificates) are skipped.
func parseCertSet(b []byte) ([]*x509.Certificate, error) {
	elems, err := splitElements(b)
	if err != nil {
		return nil, fmt.Errorf("%w: bad certificate set", ErrNotCMS)
	}
	if len(elems) > maxCertificates {
		return nil, fmt.Errorf("%w: %d certificates (at most %d)", ErrNotCMS, len(elems), maxCertificates)
	}
	var out []*x509.Certificate
	for _, e := range elems {
		if e[0] != 0x30 {
			continue
		}
		c, err := x509.ParseCertificate(e)
		if err != nil {
			return nil, fmt.Errorf("%w: bad certificate: %v", ErrNotCMS, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func verify(data []byte, opts VerifyOptions) (*Signed, error) {
	n := 0
	for _, set := range []bool{opts.Roots != nil, opts.Signer != nil, opts.AnySigner} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("cms: verify needs one of trust anchors, a signer certificate, or AnySigner")
	}
	p, err := parseSignedData(data)
	if err != nil {
		return nil, err
	}
	switch {
	case len(p.signers) != 1:
		return nil, fmt.Errorf("%w: %d signers (want exactly one)", ErrNotSigned, len(p.signers))
	case p.content == nil:
		return nil, fmt.Errorf("%w: detached content is not supported", ErrNotSigned)
	}
	var si signerInfo
	if rest, err := asn1.Unmarshal(p.signers[0].FullBytes, &si); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: bad SignerInfo", ErrNotCMS)
	}
	candidates := p.certs
	if opts.Signer != nil {
		candidates = []*x509.Certificate{opts.Signer}
	}
	cert, err := findSigner(si, candidates)
	if err != nil {
		return nil, err
	}
	when, err := checkSignature(si, p, cert)
	if err != nil {
		return nil, err
	}
	out := &Signed{Content: p.content, ContentType: ContentType(p.ct.String()), Signer: cert, Certificates: p.certs, SigningTime: when}
	if opts.Roots != nil {
		if out.Chains, err = chains(cert, p.certs, opts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// findSigner picks the certificate the SignerInfo names, by issuer and
// serial number or by subject key identifier.
func findSigner(si signerInfo, certs []*x509.Certificate) (*x509.Certificate, error) {
	switch {
	case si.SID.Class == asn1.ClassUniversal && si.SID.Tag == asn1.TagSequence:
		var is issuerSerial
		if _, err := asn1.Unmarshal(si.SID.FullBytes, &is); err != nil || is.Serial == nil {
			return nil, fmt.Errorf("%w: bad signer identifier", ErrNotCMS)
		}
		for _, c := range certs {
			if bytes.Equal(c.RawIssuer, is.Issuer.FullBytes) && c.SerialNumber.Cmp(is.Serial) == 0 {
				return c, nil
			}
		}
	case si.SID.Class == asn1.ClassContextSpecific && si.SID.Tag == 0:
		for _, c := range certs {
			if ski := c.SubjectKeyId; len(ski) > 0 && bytes.Equal(ski, si.SID.Bytes) {
				return c, nil
			}
			if bytes.Equal(subjectKeyID(c.PublicKey), si.SID.Bytes) {
				return c, nil
			}
		}
	default:
		return nil, fmt.Errorf("%w: bad signer identifier", ErrNotCMS)
	}
	return nil, fmt.Errorf("%w: the signer's certificate is not the expected one or is not in the message", ErrUntrusted)
}

// checkSignature verifies the SignerInfo over the content and returns the
// signing time, if the attributes carry one.
func checkSignature(si signerInfo, p *parsed, cert *x509.Certificate) (time.Time, error) {
	hash, ok := hashByOID(si.DigestAlgorithm.Algorithm)
	if !ok || hash == crypto.SHA1 {
		return time.Time{}, fmt.Errorf("%w: unsupported digest %v (SHA-2 only)", ErrSignature, si.DigestAlgorithm.Algorithm)
	}
	h := hash.New()
	h.Write(p.content)
	digest := h.Sum(nil)
	var when time.Time
	signed := p.content
	if len(si.SignedAttrs.FullBytes) > 0 {
		var err error
		if when, err = checkAttributes(si.SignedAttrs.Bytes, p.ct, digest); err != nil {
			return time.Time{}, err
		}
		// RFC 5652 section 5.4: the DER of the attributes as a SET OF.
		signed = append([]byte{0x31}, si.SignedAttrs.FullBytes[1:]...)
	}
	h = hash.New()
	h.Write(signed)
	if err := verifySig(cert.PublicKey, si.SignatureAlgorithm.Algorithm, hash, h.Sum(nil), si.Signature); err != nil {
		return time.Time{}, err
	}
	return when, nil
}

// checkAttributes checks the content-type and message-digest attributes
// RFC 5652 section 5.3 requires, and reads signing-time.
func checkAttributes(b []byte, ct asn1.ObjectIdentifier, digest []byte) (time.Time, error) {
	elems, err := splitElements(b)
	if err != nil || len(elems) > maxAttributes {
		return time.Time{}, fmt.Errorf("%w: bad signed attributes", ErrNotCMS)
	}
	var when time.Time
	var sawType, sawDigest bool
	for _, e := range elems {
		var a attribute
		if _, err := asn1.Unmarshal(e, &a); err != nil {
			return time.Time{}, fmt.Errorf("%w: bad signed attribute", ErrNotCMS)
		}
		switch {
		case a.Type.Equal(oidAttrContentType):
			var got asn1.ObjectIdentifier
			if rest, err := asn1.Unmarshal(a.Values.Bytes, &got); err != nil || len(rest) > 0 || sawType {
				return time.Time{}, fmt.Errorf("%w: bad content-type attribute", ErrNotCMS)
			}
			if !got.Equal(ct) {
				return time.Time{}, fmt.Errorf("%w: content-type attribute %v differs from eContentType %v", ErrSignature, got, ct)
			}
			sawType = true
		case a.Type.Equal(oidAttrDigest):
			var got []byte
			if rest, err := asn1.Unmarshal(a.Values.Bytes, &got); err != nil || len(rest) > 0 || sawDigest {
				return time.Time{}, fmt.Errorf("%w: bad message-digest attribute", ErrNotCMS)
			}
			if subtle.ConstantTimeCompare(got, digest) != 1 {
				return time.Time{}, fmt.Errorf("%w: message digest does not match the content", ErrSignature)
			}
			sawDigest = true
		case a.Type.Equal(oidAttrSigningTime):
			when = parseTime(a.Values.Bytes)
		}
	}
	if !sawType || !sawDigest {
		return time.Time{}, fmt.Errorf("%w: signed attributes lack content-type or message-digest", ErrSignature)
	}
	return when, nil
}

// parseTime reads a UTCTime or GeneralizedTime; zero when it is neither.
func parseTime(b []byte) time.Time {
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(b, &raw); err != nil {
		return time.Time{}
	}
	var t time.Time
	var err error
	switch raw.Tag {
	case asn1.TagUTCTime:
		_, err = asn1.UnmarshalWithParams(raw.FullBytes, &t, "utc")
	case asn1.TagGeneralizedTime:
		_, err = asn1.UnmarshalWithParams(raw.FullBytes, &t, "generalized")
	default:
		return time.Time{}
	}
	if err != nil {
		return time.Time{}
	}
	return t
}

// verifySig checks an RSA PKCS#1 v1.5 or ECDSA signature over digest.
// The signature algorithm may name the key type alone (rsaEncryption,
// id-ecPublicKey) or the key type with a hash, which must then be the
// digest algorithm's.
func verifySig(pub crypto.PublicKey, alg asn1.ObjectIdentifier, hash crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if !alg.Equal(oidRSAEncryption) && !algHash(alg, hash, oidSHA256WithRSA, oidSHA384WithRSA, oidSHA512WithRSA) {
			return fmt.Errorf("%w: signature algorithm %v with an RSA key and %v", ErrSignature, alg, hash)
		}
		if err := rsa.VerifyPKCS1v15(k, hash, digest, sig); err != nil {
			return fmt.Errorf("%w: %v", ErrSignature, err)
		}
		return nil
	case *ecdsa.PublicKey:
		if !alg.Equal(oidECPublicKey) && !algHash(alg, hash, oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512) {
			return fmt.Errorf("%w: signature algorithm %v with an EC key and %v", ErrSignature, alg, hash)
		}
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("%w: ECDSA signature is wrong", ErrSignature)
		}
		return nil
	}
	return fmt.Errorf("%w: %T signer keys are not supported", ErrSignature, pub)
}

// algHash reports whether alg is the one of sha256, sha384, sha512
// (in that order) that matches hash.
func algHash(alg asn1.ObjectIdentifier, hash crypto.Hash, s256, s384, s512 asn1.ObjectIdentifier) bool {
	switch hash {
	case crypto.SHA256:
		return alg.Equal(s256)
	case crypto.SHA384:
		return alg.Equal(s384)
	case crypto.SHA512:
		return alg.Equal(s512)
	}
	return false
}

// chains checks that cert chains to the trust anchors, through the
// message's certificates.
func chains(cert *x509.Certificate, carried []*x509.Certificate, opts VerifyOptions) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	if opts.Intermediates != nil {
		inter = opts.Intermediates.Clone()
	}
	for _, c := range carried {
		inter.AddCert(c)
	}
	usages := opts.KeyUsages
	if usages == nil {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	ch, err := cert.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: inter, CurrentTime: opts.CurrentTime, KeyUsages: usages})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return ch, nil
}

// unwrap reads a ContentInfo's type and, for plain content, the content.
func unwrap(data []byte) (ContentType, []byte, error) {
	der, err := messageDER(data)
	if err != nil {
		return "", nil, err
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return "", nil, fmt.Errorf("%w: bad ContentInfo", ErrNotCMS)
	}
	ct := ContentType(ci.ContentType.String())
	switch {
	case ci.ContentType.Equal(oidSignedData), ci.ContentType.Equal(oidEnvelopedData), ci.ContentType.Equal(oidAuthEnvelopedData):
		return ct, nil, nil
	}
	var raw asn1.RawValue
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &raw); err != nil || len(rest) > 0 || raw.IsCompound {
		return "", nil, fmt.Errorf("%w: content of %s is not a string", ErrNotCMS, ct)
	}
	if raw.Bytes == nil {
		raw.Bytes = []byte{}
	}
	return ct, raw.Bytes, nil
}
