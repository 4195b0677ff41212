package cms

import (
	"bytes"
	"crypto/rand"
	"runtime"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// A config over 16 MiB needs four-byte DER lengths at every level, and the
// ciphertext is written in place behind the headers: openssl opens both
// content types.
func TestInteropLargeConfig(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	big := make([]byte, 17<<20+5)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		t.Run(string(c), func(t *testing.T) {
			id := device(t, keystore.P256)
			key, cert := writeIdentity(t, id)
			sealed, err := Seal(id.Cert, big, Options{Cipher: c, DER: true})
			if err != nil {
				t.Fatal(err)
			}
			got := runOpenSSL(t, sealed, "cms", "-decrypt", "-binary", "-inform", "DER", "-recip", cert, "-inkey", key)
			if !bytes.Equal(got, big) {
				t.Fatalf("openssl cms -decrypt gave %d bytes, want the %d sealed", len(got), len(big))
			}
			if plain, err := Open(id.Key, sealed); err != nil || !bytes.Equal(plain, big) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

// Sealing allocates the message and its PEM form, not a copy per nesting
// level: a 50 MB config cost 580 MB before (11.6 times its size).
func TestSealAllocatesLittle(t *testing.T) {
	id := device(t, keystore.P256)
	data := bytes.Repeat([]byte("interface ge-0/0/0 description x\n"), 8<<20/34)
	for _, opts := range []Options{{Cipher: AES256CBC}, {Cipher: AES256GCM}, {Cipher: AES256CBC, DER: true}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Seal(id.Cert, data, opts); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(data)); ratio > 3 {
			t.Errorf("%s der=%v: sealing allocated %.1f times the config's size, want at most 3", opts.Cipher, opts.DER, ratio)
		}
	}
}
