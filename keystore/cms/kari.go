package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

type keyAgreeRI struct {
	Version    int
	Originator asn1.RawValue `asn1:"explicit,tag:0"`
	UKM        []byte        `asn1:"optional,explicit,tag:1"`
	Algorithm  pkix.AlgorithmIdentifier
	Keys       []recipientEncryptedKey
}

type recipientEncryptedKey struct {
	RID          asn1.RawValue
	EncryptedKey []byte
}

type originatorPublicKey struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// Curve OIDs, for originator keys that carry their parameters.
var curveOIDs = map[string]elliptic.Curve{
	"1.2.840.10045.3.1.7": elliptic.P256(),
	"1.3.132.0.34":        elliptic.P384(),
	"1.3.132.0.35":        elliptic.P521(),
}

// openKeyAgree recovers the content key from a KeyAgreeRecipientInfo (RFC
// 5753 section 3.1.2): ECDH of our key with the originator's ephemeral key,
// the X9.63 KDF named by the key encryption algorithm, and AES key unwrap,
// whose integrity check tells a wrong key.
func openKeyAgree(k *ecdsa.PrivateKey, raw []byte, keyLen int) ([]byte, error) {
	b := append([]byte{0x30}, raw[1:]...) // [1] IMPLICIT SEQUENCE → SEQUENCE
	var ri keyAgreeRI
	if _, err := asn1.Unmarshal(b, &ri); err != nil {
		return nil, fmt.Errorf("%w: bad KeyAgreeRecipientInfo", ErrNotCMS)
	}
	hash, err := kdfHash(ri.Algorithm.Algorithm)
	if err != nil {
		return nil, err
	}
	var wrapAlg pkix.AlgorithmIdentifier
	if _, err := asn1.Unmarshal(ri.Algorithm.Parameters.FullBytes, &wrapAlg); err != nil {
		return nil, fmt.Errorf("%w: bad key wrap algorithm", ErrNotCMS)
	}
	unwrap := keyUnwrap
	mode, wrapLen, ok := aesMode(wrapAlg.Algorithm)
	switch {
	case wrapAlg.Algorithm.Equal(oidDES3Wrap): // OpenSSL's choice for 3DES content
		unwrap, wrapLen = des3Unwrap, 24
	case !ok || mode != modeWrap:
		return nil, fmt.Errorf("unsupported key wrap algorithm %v", wrapAlg.Algorithm)
	}
	z, err := sharedSecret(k, ri.Originator)
	if err != nil {
		return nil, err
	}
	wrapDER := algID(wrapAlg.Algorithm, nil)
	if len(wrapAlg.Parameters.FullBytes) > 0 { // keep what the sender hashed
		wrapDER = algID(wrapAlg.Algorithm, wrapAlg.Parameters.FullBytes)
	}
	kek := x963KDF(hash, z, eccSharedInfo(wrapDER, ri.UKM, wrapLen), wrapLen)
	for _, rek := range ri.Keys {
		cek, err := unwrap(kek, rek.EncryptedKey)
		if err == nil && len(cek) == keyLen {
			return cek, nil
		}
	}
	return nil, fmt.Errorf("%w: wrong key or corrupted message (key unwrap failed)", ErrDecrypt)
}

// sharedSecret is the ECDH x-coordinate of our key and the originator's
// ephemeral public key, which must be on our curve.
func sharedSecret(k *ecdsa.PrivateKey, wrapper asn1.RawValue) ([]byte, error) {
	var orig asn1.RawValue // inside the [0] EXPLICIT wrapper
	if _, err := asn1.Unmarshal(wrapper.Bytes, &orig); err != nil {
		return nil, fmt.Errorf("%w: bad originator", ErrNotCMS)
	}
	if orig.Class != asn1.ClassContextSpecific || orig.Tag != 1 {
		return nil, fmt.Errorf("%w: originator is not an ephemeral public key", ErrNotCMS)
	}
	var opk originatorPublicKey
	if _, err := asn1.Unmarshal(append([]byte{0x30}, orig.FullBytes[1:]...), &opk); err != nil {
		return nil, fmt.Errorf("%w: bad originator key", ErrNotCMS)
	}
	if !opk.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("%w: originator key is not an EC key", ErrNoRecipient)
	}
	var curveOID asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(opk.Algorithm.Parameters.FullBytes, &curveOID); err == nil {
		if c, ok := curveOIDs[curveOID.String()]; !ok || c != k.Curve {
			return nil, fmt.Errorf("%w: message is for another curve", ErrNoRecipient)
		}
	}
	priv, err := k.ECDH()
	if err != nil {
		return nil, fmt.Errorf("%w: curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
	}
	peer, err := priv.Curve().NewPublicKey(opk.PublicKey.RightAlign())
	if err != nil {
		return nil, fmt.Errorf("%w: originator key is not on this key's curve", ErrNoRecipient)
	}
	z, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: ecdh: %v", ErrDecrypt, err)
	}
	return z, nil
}

// kdfHash maps the dhSinglePass schemes (RFC 5753 section 7.1.4; the
// cofactor variants are identical on prime curves, cofactor 1) to the KDF
// hash.
func kdfHash(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	for _, s := range []struct {
		oids []asn1.ObjectIdentifier
		hash crypto.Hash
	}{
		{[]asn1.ObjectIdentifier{oidStdDHSHA1KDF, oidCofactorDHSHA1KDF}, crypto.SHA1},
		{[]asn1.ObjectIdentifier{oidStdDHSHA224KDF, oidCofactorDHSHA224KDF}, crypto.SHA224},
		{[]asn1.ObjectIdentifier{oidStdDHSHA256KDF, oidCofactorDHSHA256KDF}, crypto.SHA256},
		{[]asn1.ObjectIdentifier{oidStdDHSHA384KDF, oidCofactorDHSHA384KDF}, crypto.SHA384},
		{[]asn1.ObjectIdentifier{oidStdDHSHA512KDF, oidCofactorDHSHA512KDF}, crypto.SHA512},
	} {
		for _, o := range s.oids {
			if oid.Equal(o) {
				return s.hash, nil
			}
		}
	}
	return 0, fmt.Errorf("unsupported key agreement scheme %v", oid)
}
