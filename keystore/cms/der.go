package cms

import (
	"encoding/asn1"
	"errors"
	"fmt"
)

// Object identifiers (RFC 5652, 5083, 5084, 3565, 5753, 8017, 3370).
var (
	oidData                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnvelopedData   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidRSAEncryption       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAESOAEP           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
	oidSHA1                = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECPublicKey         = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidDES3CBC             = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidDES3Wrap            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 3, 6}
	oidStdDHSHA1KDF        = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	oidCofactorDHSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 3}
	oidStdDHSHA224KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	oidStdDHSHA256KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	oidStdDHSHA384KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	oidStdDHSHA512KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
	oidCofactorDHSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 0}
	oidCofactorDHSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 1}
	oidCofactorDHSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 2}
	oidCofactorDHSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 3}
)

// aesOID returns the OID of AES with the given mode and key length:
// 2.16.840.1.101.3.4.1.{2,22,42} CBC, {5,25,45} key wrap, {6,26,46} GCM.
func aesOID(mode int, keyLen int) asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, (keyLen-16)/8*20 + mode}
}

const (
	modeCBC  = 2
	modeWrap = 5
	modeGCM  = 6
)

// aesMode reports the AES mode and key length of oid, if it is one.
func aesMode(oid asn1.ObjectIdentifier) (mode, keyLen int, ok bool) {
	for _, kl := range []int{16, 24, 32} {
		for _, m := range []int{modeCBC, modeWrap, modeGCM} {
			if oid.Equal(aesOID(m, kl)) {
				return m, kl, true
			}
		}
	}
	return 0, 0, false
}

// DER building blocks. Lengths are always definite and minimal.

func tlv(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n+6)
	out = append(out, tag)
	out = appendLength(out, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// head encodes the start of a TLV whose content is parts followed by tail
// more bytes that the caller writes after it: the header (with the length
// of both) and parts.
func head(tag byte, tail int, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n+6)
	out = append(out, tag)
	out = appendLength(out, n+tail)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// lengthSize is how many bytes appendLength writes for n.
func lengthSize(n int) int {
	if n < 0x80 {
		return 1
	}
	size := 1
	for ; n > 0; n >>= 8 {
		size++
	}
	return size
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func seq(parts ...[]byte) []byte       { return tlv(0x30, parts...) }
func octets(b []byte) []byte           { return tlv(0x04, b) }
func explicit(n byte, b []byte) []byte { return tlv(0xa0|n, b) }

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cms: marshal %T: %v", v, err)) // only called on values built here
	}
	return b
}

// algID encodes an AlgorithmIdentifier; params may be nil (absent).
func algID(oid asn1.ObjectIdentifier, params []byte) []byte {
	return seq(mustMarshal(oid), params)
}

var derNull = []byte{0x05, 0x00}

// Limits on what the BER reader accepts.
const (
	maxDepth = 32
)

var errBER = errors.New("malformed BER")

// toDER rewrites BER as DER as far as encoding/asn1 needs: indefinite
// lengths become definite, and constructed universal OCTET and BIT STRINGs
// (OpenSSL's -stream output) become primitive. Context-specific constructed
// strings such as EncryptedContentInfo's [0] are left constructed; the
// field's reader joins them (see joinOctets).
func toDER(ber []byte) ([]byte, error) {
	// Most messages are DER already (what Seal and openssl without -stream
	// write): walking them costs no copy, where rewriting copies the
	// content once per level of nesting.
	if rest, ok := plainDER(ber, 0); ok && allZero(rest) {
		return ber[:len(ber)-len(rest)], nil
	}
	out, rest, err := reencode(ber, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 && !allZero(rest) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBER, len(rest))
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// reencode reads one element from b and returns its DER form and what
// follows it.
func reencode(b []byte, depth int) (der, rest []byte, err error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested too deep", errBER)
	}
	tag, b, err := readTag(b)
	if err != nil {
		return nil, nil, err
	}
	length, indefinite, b, err := readLength(b)
	if err != nil {
		return nil, nil, err
	}
	if tag[0]&0x20 == 0 { // primitive
		if indefinite || length > len(b) {
			return nil, nil, fmt.Errorf("%w: bad primitive length", errBER)
		}
		return withHeader(tag, b[:length]), b[length:], nil
	}
	var children [][]byte
	if indefinite {
		children, rest, err = readUntilEOC(b, depth)
	} else {
		if length > len(b) {
			return nil, nil, fmt.Errorf("%w: length %d exceeds data", errBER, length)
		}
		rest = b[length:]
		children, err = readAll(b[:length], depth)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(tag) == 1 && (tag[0] == 0x24 || tag[0] == 0x23) {
		// Constructed OCTET STRING / BIT STRING: join the chunks.
		joined, err := joinOctets(children)
		if err != nil {
			return nil, nil, err
		}
		return withHeader([]byte{tag[0] &^ 0x20}, joined), rest, nil
	}
	var content []byte
	for _, c := range children {
		content = append(content, c...)
	}
	return withHeader(tag, content), rest, nil
}

// plainDER reads one element from b and reports whether reencode would
// leave it as it is: definite, minimal lengths and no constructed
// universal OCTET or BIT STRING, at every level.
func plainDER(b []byte, depth int) (rest []byte, ok bool) {
	if depth > maxDepth {
		return nil, false
	}
	tag, b, err := readTag(b)
	if err != nil {
		return nil, false
	}
	before := len(b)
	length, indefinite, b, err := readLength(b)
	if err != nil || indefinite || length > len(b) || before-len(b) != lengthSize(length) {
		return nil, false
	}
	content, rest := b[:length], b[length:]
	if tag[0]&0x20 == 0 { // primitive
		return rest, true
	}
	if len(tag) == 1 && (tag[0] == 0x24 || tag[0] == 0x23) {
		return nil, false
	}
	for len(content) > 0 {
		if content, ok = plainDER(content, depth+1); !ok {
			return nil, false
		}
	}
	return rest, true
}

func readAll(b []byte, depth int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		child, r, err := reencode(b, depth+1)
		if err != nil {
			return nil, err
		}
		out, b = append(out, child), r
	}
	return out, nil
}

func readUntilEOC(b []byte, depth int) (children [][]byte, rest []byte, err error) {
	for {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("%w: missing end-of-contents", errBER)
		}
		if b[0] == 0 && b[1] == 0 {
			return children, b[2:], nil
		}
		child, r, err := reencode(b, depth+1)
		if err != nil {
			return nil, nil, err
		}
		children, b = append(children, child), r
	}
}

// joinOctets concatenates the contents of DER string chunks (the children
// of a constructed string).
func joinOctets(chunks [][]byte) ([]byte, error) {
	var out []byte
	for _, c := range chunks {
		var raw asn1.RawValue
		if _, err := asn1.Unmarshal(c, &raw); err != nil || raw.IsCompound {
			return nil, fmt.Errorf("%w: bad string chunk", errBER)
		}
		out = append(out, raw.Bytes...)
	}
	return out, nil
}

// readTag reads an identifier octet (or several, for tag numbers >= 31).
func readTag(b []byte) (tag, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: truncated", errBER)
	}
	n := 1
	if b[0]&0x1f == 0x1f {
		for {
			if n >= len(b) || n > 4 {
				return nil, nil, fmt.Errorf("%w: bad tag", errBER)
			}
			n++
			if b[n-1]&0x80 == 0 {
				break
			}
		}
	}
	return b[:n], b[n:], nil
}

// readLength reads a length; indefinite is the BER 0x80 form.
func readLength(b []byte) (length int, indefinite bool, rest []byte, err error) {
	if len(b) == 0 {
		return 0, false, nil, fmt.Errorf("%w: truncated length", errBER)
	}
	first := b[0]
	b = b[1:]
	switch {
	case first < 0x80:
		return int(first), false, b, nil
	case first == 0x80:
		return 0, true, b, nil
	}
	n := int(first & 0x7f)
	if n > 4 || n > len(b) {
		return 0, false, nil, fmt.Errorf("%w: bad length", errBER)
	}
	for _, c := range b[:n] {
		length = length<<8 | int(c)
	}
	if length < 0 || length > 1<<30 {
		return 0, false, nil, fmt.Errorf("%w: bad length", errBER)
	}
	return length, false, b[n:], nil
}

func withHeader(tag, content []byte) []byte {
	out := make([]byte, 0, len(tag)+5+len(content))
	out = append(out, tag...)
	out = appendLength(out, len(content))
	return append(out, content...)
}
