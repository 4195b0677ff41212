package cms

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

func seal(cert *x509.Certificate, plaintext []byte, opts Options) ([]byte, error) {
	if cert == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrUnsupportedKey)
	}
	spec, err := specFor(opts.Cipher)
	if err != nil {
		return nil, err
	}
	ct, err := opts.ContentType.oid()
	if err != nil {
		return nil, err
	}
	cek := make([]byte, spec.keyLen)
	if _, err := rand.Read(cek); err != nil {
		return nil, err
	}
	ri, riVersion, err := recipientInfo(cert, cek, opts)
	if err != nil {
		return nil, err
	}
	var der []byte
	if spec.gcm {
		der, err = sealGCM(ct, cek, ri, plaintext)
	} else {
		der, err = sealCBC(ct, cek, ri, riVersion, plaintext)
	}
	if err != nil || opts.DER {
		return der, err
	}
	return pemOf(der), nil
}

// The ciphertext is the last thing in the message (AuthEnvelopedData has
// only its 18-byte tag after it), so the DER is written as one buffer: the
// nested headers, computed from the ciphertext's length, then the
// plaintext copied in and encrypted in place. A config is then held twice
// (plaintext and message) rather than once per nesting level: sealing a
// 50 MB config allocated 580 MB before.

// sealCBC writes EnvelopedData (RFC 5652 section 6.1): version 2 when a
// RecipientInfo's version is not 0 (kari is 3), else 0.
func sealCBC(contentType asn1.ObjectIdentifier, cek, ri []byte, riVersion int, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	version := 0
	if riVersion != 0 {
		version = 2
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	ctLen := len(plaintext) + pad
	alg := algID(aesOID(modeCBC, len(cek)), octets(iv))
	eci := head(0x30, ctLen, mustMarshal(contentType), alg, head(0x80, ctLen))
	body := head(0x30, ctLen, mustMarshal(version), tlv(0x31, ri), eci)
	prefix := head(0x30, ctLen, mustMarshal(oidEnvelopedData), head(0xa0, ctLen, body))
	out := make([]byte, len(prefix)+ctLen)
	copy(out, prefix)
	ct := out[len(prefix):]
	copy(ct, plaintext)
	for i := len(plaintext); i < ctLen; i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return out, nil
}

// sealGCM writes AuthEnvelopedData (RFC 5083 section 2.1, version 0) with
// AES-GCM (RFC 5084): a 12-byte nonce, the ICV length written explicitly
// although 12 is the default, and the 16-byte tag as the mac field.
func sealGCM(contentType asn1.ObjectIdentifier, cek, ri, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	tagLen := aead.Overhead()
	ctLen := len(plaintext)
	mac := 2 + tagLen // OCTET STRING header and tag, after the ciphertext
	alg := algID(aesOID(modeGCM, len(cek)), seq(octets(nonce), mustMarshal(tagLen)))
	eci := head(0x30, ctLen, mustMarshal(contentType), alg, head(0x80, ctLen))
	body := head(0x30, ctLen+mac, mustMarshal(0), tlv(0x31, ri), eci)
	prefix := head(0x30, ctLen+mac, mustMarshal(oidAuthEnvelopedData), head(0xa0, ctLen+mac, body))
	out := make([]byte, len(prefix)+ctLen+mac)
	copy(out, prefix)
	p := len(prefix)
	copy(out[p:], plaintext)
	aead.Seal(out[p:p], nonce, out[p:p+ctLen], nil) // ciphertext, then the tag
	copy(out[p+ctLen+2:], out[p+ctLen:p+ctLen+tagLen])
	out[p+ctLen], out[p+ctLen+1] = 0x04, byte(tagLen)
	return out, nil
}

// pemOf wraps a message in PEM (label PKCS7, which openssl smime and cms
// both read) in one allocation of the right size.
func pemOf(der []byte) []byte {
	b64 := (len(der) + 2) / 3 * 4
	size := len("-----BEGIN PKCS7-----\n") + b64 + b64/64 + 1 + len("-----END PKCS7-----\n")
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_ = pem.Encode(buf, &pem.Block{Type: "PKCS7", Bytes: der}) // writes to memory: no error
	return buf.Bytes()
}

// recipientInfo builds the RecipientInfo for cert's key and returns its
// version.
func recipientInfo(cert *x509.Certificate, cek []byte, opts Options) ([]byte, int, error) {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 && !opts.AllowSmallRSA {
			return nil, 0, fmt.Errorf("%w: RSA key of %d bits is under 2048 (allow it explicitly to use it)", ErrUnsupportedKey, pub.N.BitLen())
		}
		ri, err := keyTransRecipient(cert, pub, cek, opts.OAEP)
		return ri, 0, err
	case *ecdsa.PublicKey:
		ri, err := keyAgreeRecipient(cert, pub, cek, opts.KDF)
		return ri, 3, err
	case ed25519.PublicKey:
		return nil, 0, fmt.Errorf("%w: Ed25519 keys can only sign", ErrUnsupportedKey)
	case *ecdh.PublicKey:
		return nil, 0, fmt.Errorf("%w: X25519 recipients are not supported by OpenSSL's CMS", ErrUnsupportedKey)
	}
	return nil, 0, fmt.Errorf("%w: %s keys are not supported", ErrUnsupportedKey, cert.PublicKeyAlgorithm)
}

// issuerAndSerial encodes IssuerAndSerialNumber (RFC 5652 section 10.2.4).
func issuerAndSerial(cert *x509.Certificate) []byte {
	return seq(cert.RawIssuer, mustMarshal(cert.SerialNumber))
}

// keyTransRecipient is KeyTransRecipientInfo, RFC 5652 section 6.2.1,
// version 0 with issuerAndSerialNumber. RSAES-OAEP parameters follow RFC
// 8017 appendix A.2.1 with SHA-256 for the hash and MGF1 (RFC 4055 section 4).
func keyTransRecipient(cert *x509.Certificate, pub *rsa.PublicKey, cek []byte, oaep bool) ([]byte, error) {
	var alg, ek []byte
	var err error
	if oaep {
		sha := algID(oidSHA256, nil)
		params := seq(explicit(0, sha), explicit(1, algID(oidMGF1, sha)))
		alg = algID(oidRSAESOAEP, params)
		ek, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	} else {
		alg = algID(oidRSAEncryption, derNull)
		ek, err = rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt content key: %w", err)
	}
	return seq(mustMarshal(0), issuerAndSerial(cert), alg, octets(ek)), nil
}

// keyAgreeRecipient is KeyAgreeRecipientInfo with ephemeral-static ECDH,
// RFC 5753 section 3.1.1: version 3, the ephemeral public key as
// originatorKey (id-ecPublicKey with absent parameters, uncompressed
// point), no ukm, the X9.63 KDF scheme with the AES key wrap sized to the
// content key as its parameter.
func keyAgreeRecipient(cert *x509.Certificate, pub *ecdsa.PublicKey, cek []byte, kdf KDF) ([]byte, error) {
	scheme, hash, err := kdfScheme(kdf)
	if err != nil {
		return nil, err
	}
	static, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("%w: curve %s", ErrUnsupportedKey, pub.Curve.Params().Name)
	}
	eph, err := static.Curve().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(static) // the x-coordinate, fixed length: leading zeros kept
	if err != nil {
		return nil, fmt.Errorf("ecdh: %w", err)
	}
	wrapAlg := algID(aesOID(modeWrap, len(cek)), nil)
	kek := x963KDF(hash, z, eccSharedInfo(wrapAlg, nil, len(cek)), len(cek))
	wrapped, err := keyWrap(kek, cek)
	if err != nil {
		return nil, err
	}
	point := mustMarshal(asn1.BitString{Bytes: eph.PublicKey().Bytes(), BitLength: 8 * len(eph.PublicKey().Bytes())})
	originator := explicit(0, tlv(0xa1, algID(oidECPublicKey, nil), point))
	keys := seq(seq(issuerAndSerial(cert), octets(wrapped)))
	return tlv(0xa1, mustMarshal(3), originator, algID(scheme, wrapAlg), keys), nil
}

func kdfScheme(k KDF) (asn1.ObjectIdentifier, crypto.Hash, error) {
	switch k {
	case "", KDFSHA256:
		return oidStdDHSHA256KDF, crypto.SHA256, nil
	case KDFSHA1:
		return oidStdDHSHA1KDF, crypto.SHA1, nil
	}
	return nil, 0, fmt.Errorf("unknown KDF %q (want %s or %s)", k, KDFSHA256, KDFSHA1)
}
