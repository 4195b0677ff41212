package cms

import (
	"bytes"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// config64KiB is a 64 KiB text config, the size the benchmarks use.
func config64KiB() []byte {
	line := []byte("interface xe-0/0/0 description uplink; set system radius key s3cr3t;\n")
	return bytes.Repeat(line, 64*1024/len(line)+1)[:64*1024]
}

func BenchmarkSeal64KiB(b *testing.B) {
	cfg := config64KiB()
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256} {
		for _, der := range []bool{false, true} {
			name := string(kt) + "/PEM"
			if der {
				name = string(kt) + "/DER"
			}
			b.Run(name, func(b *testing.B) {
				id := device(b, kt)
				b.SetBytes(int64(len(cfg)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Seal(id.Cert, cfg, Options{DER: der}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen64KiB(b *testing.B) {
	cfg := config64KiB()
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256} {
		b.Run(string(kt), func(b *testing.B) {
			id := device(b, kt)
			m, err := Seal(id.Cert, cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(cfg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(id.Key, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
