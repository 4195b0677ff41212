package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// maxMessage bounds what Open accepts; a device config is far smaller.
const maxMessage = 64 << 20

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type envelopedData struct {
	Version              int
	OriginatorInfo       asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos       []asn1.RawValue `asn1:"set"`
	EncryptedContentInfo encContentInfo
	UnprotectedAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

type authEnvelopedData struct {
	Version              int
	OriginatorInfo       asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos       []asn1.RawValue `asn1:"set"`
	EncryptedContentInfo encContentInfo
	AuthAttrs            asn1.RawValue `asn1:"optional,tag:1"`
	MAC                  []byte
	UnauthAttrs          asn1.RawValue `asn1:"optional,tag:2"`
}

type encContentInfo struct {
	ContentType      asn1.ObjectIdentifier
	Algorithm        pkix.AlgorithmIdentifier
	EncryptedContent asn1.RawValue `asn1:"optional,tag:0"`
}

func open(key crypto.PrivateKey, data []byte) ([]byte, error) {
	pt, _, err := openTyped(key, data)
	return pt, err
}

func openTyped(key crypto.PrivateKey, data []byte) ([]byte, ContentType, error) {
	if len(data) > maxMessage {
		return nil, "", fmt.Errorf("%w: message of %d bytes is too large", ErrNotCMS, len(data))
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	case ed25519.PrivateKey, *ed25519.PrivateKey:
		return nil, "", fmt.Errorf("%w: Ed25519 keys cannot receive encrypted data", ErrUnsupportedKey)
	default:
		return nil, "", fmt.Errorf("%w: %T is not an RSA or EC private key", ErrUnsupportedKey, key)
	}
	der, err := messageDER(data)
	if err != nil {
		return nil, "", err
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, "", fmt.Errorf("%w: bad ContentInfo", ErrNotCMS)
	}
	var eci encContentInfo
	var pt []byte
	switch {
	case ci.ContentType.Equal(oidEnvelopedData):
		var ed envelopedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
			return nil, "", fmt.Errorf("%w: bad EnvelopedData: %v", ErrNotCMS, err)
		}
		eci = ed.EncryptedContentInfo
		pt, err = openContent(key, ed.RecipientInfos, eci, nil, nil)
	case ci.ContentType.Equal(oidAuthEnvelopedData):
		var ad authEnvelopedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &ad); err != nil {
			return nil, "", fmt.Errorf("%w: bad AuthEnvelopedData: %v", ErrNotCMS, err)
		}
		var aad []byte
		if len(ad.AuthAttrs.FullBytes) > 0 {
			// RFC 5083 section 2.2: the DER of authAttrs with its SET OF tag.
			aad = append([]byte{0x31}, ad.AuthAttrs.FullBytes[1:]...)
		}
		eci = ad.EncryptedContentInfo
		pt, err = openContent(key, ad.RecipientInfos, eci, ad.MAC, aad)
	default:
		return nil, "", fmt.Errorf("%w: content type %v is not enveloped data", ErrNotCMS, ci.ContentType)
	}
	if err != nil {
		return nil, "", err
	}
	return pt, ContentType(eci.ContentType.String()), nil
}

// messageDER returns the DER of a PEM (PKCS7 or CMS label), S/MIME, DER or
// BER message.
func messageDER(data []byte) ([]byte, error) {
	// PEM first: smimeBody copies the whole message to look for headers.
	if i := bytes.Index(data, []byte("-----BEGIN ")); i >= 0 {
		typ, der, ok := quickPEM(data[i:])
		if !ok {
			block, _ := pem.Decode(data[i:])
			if block != nil {
				typ, der = block.Type, block.Bytes
			}
		}
		if typ != "PKCS7" && typ != "CMS" {
			return nil, fmt.Errorf("%w: PEM block is not PKCS7 or CMS", ErrNotCMS)
		}
		data = der
	} else if body, ok := smimeBody(data); ok {
		data = body
	}
	der, err := toDER(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCMS, err)
	}
	return der, nil
}

// smimeBody decodes an S/MIME message (RFC 8551 section 3.3: headers, a
// blank line, base64), what `openssl cms -encrypt` and `openssl smime
// -encrypt` write by default.
func smimeBody(data []byte) ([]byte, bool) {
	head, body, ok := bytes.Cut(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n\n"))
	if !ok || !bytes.Contains(bytes.ToLower(head), []byte("pkcs7-mime")) {
		return nil, false
	}
	out, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil)))
	if err != nil {
		return nil, false
	}
	return out, true
}

// openContent finds the content key in the recipients and decrypts.
func openContent(key crypto.PrivateKey, ris []asn1.RawValue, eci encContentInfo, tag, aad []byte) ([]byte, error) {
	if len(eci.EncryptedContent.FullBytes) == 0 {
		return nil, fmt.Errorf("%w: detached content is not supported", ErrNotCMS)
	}
	ct := eci.EncryptedContent.Bytes
	if eci.EncryptedContent.IsCompound { // BER: constructed [0] of OCTET STRING chunks
		chunks, err := splitElements(ct)
		if err == nil {
			ct, err = joinOctets(chunks)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: bad encrypted content", ErrNotCMS)
		}
	}
	keyLen, err := contentKeyLen(eci.Algorithm)
	if err != nil {
		return nil, err
	}
	mode, _, _ := aesMode(eci.Algorithm.Algorithm)
	if (mode == modeGCM) != (tag != nil) {
		return nil, fmt.Errorf("%w: content cipher does not match the message type", ErrNotCMS)
	}
	candidates, err := contentKeys(key, ris, keyLen)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, cek := range candidates {
		var pt []byte
		if mode == modeGCM {
			pt, lastErr = decryptGCM(eci.Algorithm, cek, ct, tag, aad)
		} else {
			pt, lastErr = decryptCBC(eci.Algorithm, cek, ct)
		}
		if lastErr == nil {
			return pt, nil
		}
	}
	return nil, lastErr
}

// contentKeys returns the content keys that recipients for this key
// decrypt to. Without the certificate, the recipient identifier cannot be
// matched, so every recipient of the key's type is tried (as `openssl cms
// -decrypt` does without -recip).
func contentKeys(key crypto.PrivateKey, ris []asn1.RawValue, keyLen int) ([][]byte, error) {
	var keys [][]byte
	var errs []error
	tried := 0
	for _, ri := range ris {
		var cek []byte
		var err error
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if ri.Class != asn1.ClassUniversal || ri.Tag != asn1.TagSequence {
				continue
			}
			tried++
			cek, err = openKeyTrans(k, ri.FullBytes, keyLen)
		case *ecdsa.PrivateKey:
			if ri.Class != asn1.ClassContextSpecific || ri.Tag != 1 {
				continue
			}
			tried++
			cek, err = openKeyAgree(k, ri.FullBytes, keyLen)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, cek)
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: no recipient uses a %s key", ErrNoRecipient, keyKind(key))
	}
	if len(keys) == 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

func keyKind(key crypto.PrivateKey) string {
	if _, ok := key.(*rsa.PrivateKey); ok {
		return "RSA"
	}
	return "EC"
}

type keyTransRI struct {
	Version      int
	RID          asn1.RawValue
	Algorithm    pkix.AlgorithmIdentifier
	EncryptedKey []byte
}

// openKeyTrans decrypts a KeyTransRecipientInfo's content key (RFC 5652
// section 6.2.1). PKCS#1 v1.5 failures are reported: sealboot never
// decrypts on behalf of a network peer, so there is no padding oracle to
// protect, and a clear "wrong key" matters more to an operator.
func openKeyTrans(k *rsa.PrivateKey, raw []byte, keyLen int) ([]byte, error) {
	var ri keyTransRI
	if _, err := asn1.Unmarshal(raw, &ri); err != nil {
		return nil, fmt.Errorf("%w: bad KeyTransRecipientInfo", ErrNotCMS)
	}
	if ri.RID.Class == asn1.ClassContextSpecific && ri.RID.Tag == 0 {
		if ski := subjectKeyID(&k.PublicKey); ski != nil && !bytes.Equal(ri.RID.Bytes, ski) {
			return nil, fmt.Errorf("%w: subjectKeyIdentifier does not match this key", ErrNoRecipient)
		}
	}
	var cek []byte
	var err error
	switch {
	case ri.Algorithm.Algorithm.Equal(oidRSAEncryption):
		cek, err = rsa.DecryptPKCS1v15(rand.Reader, k, ri.EncryptedKey)
	case ri.Algorithm.Algorithm.Equal(oidRSAESOAEP):
		var opts *rsa.OAEPOptions
		if opts, err = oaepOptions(ri.Algorithm.Parameters.FullBytes); err == nil {
			cek, err = k.Decrypt(rand.Reader, ri.EncryptedKey, opts)
		}
	default:
		return nil, fmt.Errorf("unsupported key transport algorithm %v", ri.Algorithm.Algorithm)
	}
	if err != nil || len(cek) != keyLen {
		return nil, fmt.Errorf("%w: wrong key or corrupted message (content key does not decrypt)", ErrDecrypt)
	}
	return cek, nil
}

// subjectKeyID is the usual SKI: SHA-1 of the subjectPublicKey bits (RFC
// 5280 section 4.2.1.2 method 1), what OpenSSL writes for -keyid.
func subjectKeyID(pub crypto.PublicKey) []byte {
	var bits []byte
	switch p := pub.(type) {
	case *rsa.PublicKey:
		bits = mustMarshal(struct{ N, E any }{p.N, p.E})
	case *ecdsa.PublicKey:
		e, err := p.ECDH()
		if err != nil {
			return nil
		}
		bits = e.Bytes()
	default:
		return nil
	}
	sum := sha1.Sum(bits)
	return sum[:]
}

// oaepOptions reads RSAES-OAEP-params (RFC 8017 appendix A.2.1); absent
// fields take the SHA-1 defaults.
func oaepOptions(params []byte) (*rsa.OAEPOptions, error) {
	var p struct {
		Hash    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		MGF     pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
		PSource pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:2"`
	}
	if len(params) > 0 && !bytes.Equal(params, derNull) {
		if _, err := asn1.Unmarshal(params, &p); err != nil {
			return nil, fmt.Errorf("bad OAEP parameters: %w", err)
		}
	}
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if len(p.Hash.Algorithm) > 0 {
		h, ok := hashByOID(p.Hash.Algorithm)
		if !ok {
			return nil, fmt.Errorf("unsupported OAEP hash %v", p.Hash.Algorithm)
		}
		opts.Hash = h
	}
	if len(p.MGF.Algorithm) > 0 {
		var mgfHash pkix.AlgorithmIdentifier
		if !p.MGF.Algorithm.Equal(oidMGF1) {
			return nil, fmt.Errorf("unsupported OAEP mask function %v", p.MGF.Algorithm)
		}
		if _, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil {
			return nil, fmt.Errorf("bad MGF1 parameters: %w", err)
		}
		h, ok := hashByOID(mgfHash.Algorithm)
		if !ok {
			return nil, fmt.Errorf("unsupported MGF1 hash %v", mgfHash.Algorithm)
		}
		opts.MGFHash = h
	}
	if len(p.PSource.Algorithm) > 0 {
		if !p.PSource.Algorithm.Equal(oidPSpecified) {
			return nil, fmt.Errorf("unsupported OAEP label source %v", p.PSource.Algorithm)
		}
		if _, err := asn1.Unmarshal(p.PSource.Parameters.FullBytes, &opts.Label); err != nil {
			return nil, fmt.Errorf("bad OAEP label: %w", err)
		}
	}
	return opts, nil
}

func hashByOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, h := range []struct {
		oid  asn1.ObjectIdentifier
		hash crypto.Hash
	}{{oidSHA1, crypto.SHA1}, {oidSHA224, crypto.SHA224}, {oidSHA256, crypto.SHA256}, {oidSHA384, crypto.SHA384}, {oidSHA512, crypto.SHA512}} {
		if oid.Equal(h.oid) {
			return h.hash, true
		}
	}
	return 0, false
}

// splitElements splits concatenated DER elements.
func splitElements(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		var raw asn1.RawValue
		rest, err := asn1.Unmarshal(b, &raw)
		if err != nil {
			return nil, err
		}
		out, b = append(out, raw.FullBytes), rest
	}
	return out, nil
}

// quickPEM decodes the first PEM block of data, which starts with its
// BEGIN line, when it is plain: no headers, base64 lines ending in LF or
// CRLF. encoding/pem's Decode does the same and more (headers, spaces,
// trailing text) at several times the cost on a large message; anything it
// is needed for gives ok false.
func quickPEM(data []byte) (typ string, der []byte, ok bool) {
	rest, found := bytes.CutPrefix(data, []byte("-----BEGIN "))
	if !found {
		return "", nil, false
	}
	label, body, found := bytes.Cut(rest, []byte("-----\n"))
	if !found || bytes.ContainsAny(label, "\r\n-") {
		return "", nil, false
	}
	endLine := []byte("\n-----END " + string(label) + "-----")
	end := bytes.Index(body, endLine)
	if end < 0 || bytes.IndexByte(body[:end], ':') >= 0 {
		return "", nil, false
	}
	if after := body[end+len(endLine):]; len(after) > 0 && after[0] != '\n' && !bytes.HasPrefix(after, []byte("\r\n")) {
		return "", nil, false
	}
	der = make([]byte, base64.StdEncoding.DecodedLen(end))
	n, err := base64.StdEncoding.Decode(der, body[:end]) // skips CR and LF
	if err != nil {
		return "", nil, false
	}
	return string(label), der[:n], true
}
