package cms

import (
	"crypto"
	_ "crypto/sha1" // X9.63 KDF and OAEP hashes
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/binary"
)

// x963KDF derives size bytes from the shared secret z and sharedInfo with
// the ANSI X9.63 KDF (SEC 1 section 3.6.1), as RFC 5753 section 7.2 uses it:
// Hash(z || counter || sharedInfo) with a 32-bit big-endian counter starting
// at 1.
func x963KDF(h crypto.Hash, z, sharedInfo []byte, size int) []byte {
	out := make([]byte, 0, size+h.Size())
	var counter [4]byte
	for i := uint32(1); len(out) < size; i++ {
		binary.BigEndian.PutUint32(counter[:], i)
		d := h.New()
		d.Write(z)
		d.Write(counter[:])
		d.Write(sharedInfo)
		out = d.Sum(out)
	}
	return out[:size]
}

// eccSharedInfo encodes ECC-CMS-SharedInfo (RFC 5753 section 7.2): the key
// wrap algorithm, the optional user keying material, and the wrap key length
// in bits as four big-endian bytes.
func eccSharedInfo(wrapAlg, ukm []byte, keyLen int) []byte {
	var bits [4]byte
	binary.BigEndian.PutUint32(bits[:], uint32(keyLen*8))
	var entity []byte
	if ukm != nil {
		entity = explicit(0, octets(ukm))
	}
	return seq(wrapAlg, entity, explicit(2, octets(bits[:])))
}
