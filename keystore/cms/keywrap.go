package cms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"slices"
)

// defaultIV is the RFC 3394 section 2.2.3.1 integrity check value.
var defaultIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

var errKeyWrap = errors.New("key unwrap failed integrity check")

// keyWrap wraps key (a multiple of 8 bytes, at least 16) with kek, RFC 3394
// section 2.2.1.
func keyWrap(kek, key []byte) ([]byte, error) {
	if len(key)%8 != 0 || len(key) < 16 {
		return nil, errors.New("key wrap: key length must be a multiple of 8, at least 16")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(key) / 8
	out := make([]byte, 8+len(key))
	copy(out[8:], key)
	a := defaultIV
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[8*i:8*i+8])
			block.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	copy(out[:8], a[:])
	return out, nil
}

// keyUnwrap reverses keyWrap and checks the integrity value, RFC 3394
// section 2.2.2.
func keyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, errKeyWrap
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped)-8)
	copy(out, wrapped[8:])
	var a [8]byte
	copy(a[:], wrapped[:8])
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(buf[8:], out[8*(i-1):8*i])
			block.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(out[8*(i-1):], buf[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], defaultIV[:]) != 1 {
		return nil, errKeyWrap
	}
	return out, nil
}

// des3WrapIV is the fixed IV of the CMS Triple-DES key wrap, RFC 3217
// section 3.
var des3WrapIV = []byte{0x4a, 0xdd, 0xa2, 0x2c, 0x79, 0xe8, 0x21, 0x05}

// des3Unwrap reverses the CMS Triple-DES key wrap (RFC 3217 section 3.2),
// which OpenSSL uses for EC recipients when the content cipher is 3DES.
func des3Unwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) != 40 {
		return nil, errKeyWrap
	}
	block, err := des.NewTripleDESCipher(kek)
	if err != nil {
		return nil, err
	}
	temp3 := make([]byte, len(wrapped))
	cipher.NewCBCDecrypter(block, des3WrapIV).CryptBlocks(temp3, wrapped)
	slices.Reverse(temp3)
	iv, temp1 := temp3[:8], temp3[8:]
	cekICV := make([]byte, len(temp1))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(cekICV, temp1)
	cek, icv := cekICV[:24], cekICV[24:]
	sum := sha1.Sum(cek)
	if subtle.ConstantTimeCompare(sum[:8], icv) != 1 {
		return nil, errKeyWrap
	}
	return cek, nil
}
