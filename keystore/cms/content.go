package cms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// cipherSpec describes a content cipher Seal can use.
type cipherSpec struct {
	keyLen int
	gcm    bool
}

func specFor(c Cipher) (cipherSpec, error) {
	switch c {
	case "", AES256CBC:
		return cipherSpec{32, false}, nil
	case AES192CBC:
		return cipherSpec{24, false}, nil
	case AES128CBC:
		return cipherSpec{16, false}, nil
	case AES128GCM:
		return cipherSpec{16, true}, nil
	case AES256GCM:
		return cipherSpec{32, true}, nil
	}
	return cipherSpec{}, fmt.Errorf("unknown cipher %q (want %s, %s, %s, %s or %s)", c, AES256CBC, AES192CBC, AES128CBC, AES128GCM, AES256GCM)
}

// contentKeyLen returns the key length the content algorithm needs.
func contentKeyLen(alg pkix.AlgorithmIdentifier) (int, error) {
	if alg.Algorithm.Equal(oidDES3CBC) {
		return 24, nil
	}
	if mode, kl, ok := aesMode(alg.Algorithm); ok && (mode == modeCBC || mode == modeGCM) {
		return kl, nil
	}
	return 0, fmt.Errorf("unsupported content cipher %v", alg.Algorithm)
}

// decryptCBC decrypts AES-CBC or 3DES-CBC content and removes its padding.
func decryptCBC(alg pkix.AlgorithmIdentifier, key, ct []byte) ([]byte, error) {
	var block cipher.Block
	var err error
	if alg.Algorithm.Equal(oidDES3CBC) {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 || len(iv) != block.BlockSize() {
		return nil, fmt.Errorf("%w: bad IV", ErrDecrypt)
	}
	bs := block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: ciphertext is not a whole number of blocks", ErrDecrypt)
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: wrong key or corrupted message (bad padding)", ErrDecrypt)
	}
	return out[:len(out)-pad], nil
}

// gcmParams is GCMParameters, RFC 5084 section 3.2.
type gcmParams struct {
	Nonce  []byte
	ICVLen int `asn1:"optional,default:12"`
}

// decryptGCM checks the tag and decrypts AES-GCM content; aad is the DER of
// the authenticated attributes, if any (RFC 5083 section 2.2).
func decryptGCM(alg pkix.AlgorithmIdentifier, key, ct, tag, aad []byte) ([]byte, error) {
	var p gcmParams
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: bad GCM parameters", ErrDecrypt)
	}
	if p.ICVLen != len(tag) || len(tag) < 12 || len(tag) > 16 || len(p.Nonce) == 0 || len(p.Nonce) > 64 {
		return nil, fmt.Errorf("%w: bad GCM nonce or tag length", ErrDecrypt)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	var aead cipher.AEAD
	switch {
	case len(p.Nonce) == 12:
		aead, err = cipher.NewGCMWithTagSize(block, len(tag))
	case len(tag) == 16:
		aead, err = cipher.NewGCMWithNonceSize(block, len(p.Nonce))
	default:
		err = fmt.Errorf("nonce of %d bytes with a %d-byte tag is not supported", len(p.Nonce), len(tag))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	pt, err := aead.Open(nil, p.Nonce, append(append([]byte{}, ct...), tag...), aad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key or corrupted message (GCM tag mismatch)", ErrDecrypt)
	}
	return pt, nil
}
