package cms

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", ":", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3394 section 4 test vectors.
func TestKeyWrapRFC3394Vectors(t *testing.T) {
	t.Parallel()
	kek256 := "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	tests := []struct {
		name, kek, key, wrapped string
	}{
		{"4.1 128-bit key, 128-bit KEK", kek256[:32], "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"4.2 128-bit key, 192-bit KEK", kek256[:48], "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
		{"4.3 128-bit key, 256-bit KEK", kek256, "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"4.4 192-bit key, 192-bit KEK", kek256[:48], "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
		{"4.5 192-bit key, 256-bit KEK", kek256, "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
		{"4.6 256-bit key, 256-bit KEK", kek256, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kek, key, want := unhex(t, tt.kek), unhex(t, tt.key), unhex(t, tt.wrapped)
			got, err := keyWrap(kek, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("wrap: got %x, %v; want %x", got, err, want)
			}
			back, err := keyUnwrap(kek, want)
			if err != nil || !bytes.Equal(back, key) {
				t.Fatalf("unwrap: got %x, %v", back, err)
			}
			tampered := bytes.Clone(want)
			tampered[len(tampered)-1] ^= 1
			if _, err := keyUnwrap(kek, tampered); !errors.Is(err, errKeyWrap) {
				t.Fatalf("tampered unwrap: got %v, want integrity failure", err)
			}
			otherKEK := bytes.Clone(kek)
			otherKEK[0] ^= 0x80
			if _, err := keyUnwrap(otherKEK, want); !errors.Is(err, errKeyWrap) {
				t.Fatalf("wrong KEK unwrap: got %v, want integrity failure", err)
			}
		})
	}
}

func TestKeyWrapRejectsBadLengths(t *testing.T) {
	t.Parallel()
	kek := make([]byte, 16)
	for _, n := range []int{0, 8, 15, 17} {
		if _, err := keyWrap(kek, make([]byte, n)); err == nil {
			t.Errorf("wrap of %d bytes accepted", n)
		}
	}
	for _, n := range []int{0, 16, 23, 25} {
		if _, err := keyUnwrap(kek, make([]byte, n)); err == nil {
			t.Errorf("unwrap of %d bytes accepted", n)
		}
	}
}

// Known answers produced by `openssl kdf ... X963KDF` (OpenSSL 3.0).
func TestX963KDFKnownAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hash    crypto.Hash
		z, info string
		size    int
		want    string
	}{
		{"sha256 one block", crypto.SHA256, "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", "deadbeef", 32,
			"4A91EA9C297B69FF42858369D01A40480254998A37A3EF7608DACDD6D34859E8"},
		{"sha1 truncated", crypto.SHA1, "1c7d7b5f0597b03d06a018466ed1a93e30ed4b04dc64ccdd", "abcd", 16,
			"6DE3886311CD4C8923442B96528DE0DE"},
		{"sha256 two blocks, empty info", crypto.SHA256, "00ff", "", 48,
			"EDA27F13A7E95FB6EB6A8E0192E9CDA464843EE3ED870936DCDD2EB9A9FB6FDC06FD9FF04991457D424227A65A45E015"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := x963KDF(tt.hash, unhex(t, tt.z), unhex(t, tt.info), tt.size)
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("got %X\nwant %X", got, want)
			}
		})
	}
}

func TestBERToDER(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{name: "definite unchanged", in: "3003020101", want: "3003020101"},
		{name: "indefinite sequence", in: "3080020101 0000", want: "3003020101"},
		{name: "nested indefinite", in: "3080 3080 020101 0000 0000", want: "3005 3003020101"},
		{name: "constructed octet string", in: "2480 0402aabb 0401cc 0000", want: "0403aabbcc"},
		{name: "context constructed kept", in: "a080 0402aabb 0000", want: "a004 0402aabb"},
		{name: "long form length", in: "3081030201 01", want: "3003020101"},
		{name: "missing end of contents", in: "3080020101", err: true},
		{name: "length beyond data", in: "3005020101", err: true},
		{name: "truncated", in: "30", err: true},
		{name: "huge length", in: "3084ffffffff", err: true},
		{name: "trailing garbage", in: "3003020101ff", err: true},
		{name: "too deep", in: strings.Repeat("3080", 40) + strings.Repeat("0000", 40), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := toDER(unhex(t, tt.in))
			if tt.err {
				if err == nil {
					t.Fatalf("accepted %s as %x", tt.in, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, unhex(t, tt.want)) {
				t.Fatalf("got %x, %v; want %s", got, err, tt.want)
			}
		})
	}
}
