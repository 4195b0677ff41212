package cms

import (
	"bytes"
	"encoding/pem"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

func TestLengthSize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000, 1 << 30} {
		if got, want := lengthSize(n), len(appendLength(nil, n)); got != want {
			t.Errorf("lengthSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// FuzzToDERFastPath: when toDER takes its input as it is (plainDER), the
// full rewrite gives the same bytes.
func FuzzToDERFastPath(f *testing.F) {
	for _, opts := range []Options{{DER: true}, {DER: true, Cipher: AES256GCM}} {
		m, err := Seal(device(f, keystore.P256).Cert, sampleConfig, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	f.Add([]byte{0x30, 0x81, 0x03, 0x02, 0x01, 0x01})       // non-minimal length
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}) // indefinite
	f.Add([]byte{0x24, 0x03, 0x04, 0x01, 0x41})             // constructed OCTET STRING
	f.Fuzz(func(t *testing.T, data []byte) {
		rest, ok := plainDER(data, 0)
		if !ok || !allZero(rest) {
			return
		}
		full, frest, err := reencode(data, 0)
		if err != nil || !allZero(frest) || !bytes.Equal(full, data[:len(data)-len(rest)]) {
			t.Fatalf("fast path kept %x, rewrite gives %x (%v)", data[:len(data)-len(rest)], full, err)
		}
	})
}

// FuzzQuickPEM: when the quick PEM reader takes a block, encoding/pem
// reads the same type and bytes from it.
func FuzzQuickPEM(f *testing.F) {
	m, err := Seal(device(f, keystore.P256).Cert, sampleConfig, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m)
	f.Add(bytes.ReplaceAll(m, []byte("\n"), []byte("\r\n")))
	f.Add([]byte("-----BEGIN CMS-----\nProc-Type: 4,ENCRYPTED\n\nMAA=\n-----END CMS-----\n"))
	f.Add([]byte("-----BEGIN PKCS7-----\nMA A=\n-----END PKCS7-----\n"))
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END CMS-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, der, ok := quickPEM(data)
		if !ok {
			return
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != typ || !bytes.Equal(block.Bytes, der) {
			t.Fatalf("quickPEM read %q %x; encoding/pem: %+v", typ, der, block)
		}
	})
}
