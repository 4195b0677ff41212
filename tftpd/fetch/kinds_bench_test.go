package fetch

import (
	"bytes"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/appliance"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/configdir"
)

// BenchmarkFetchKinds is one fetch's cost (Prepare: the configs directory's
// checks, read, open, seal, cache) for a 64 KiB config of each kind, to a
// P-256 device: plaintext (read and seal), sealed to the appliance (read,
// open with the appliance key, seal) and presealed (read, check the
// recipients, serve as is). cold: the cache holds nothing (every fetch does
// the whole work, as for a new config); cached: a retry of a version
// already sealed (one stat). bench/sealed.sh prints it as a table.
func BenchmarkFetchKinds(b *testing.B) {
	config := bytes.Repeat([]byte("interface xe-0/0/0 description uplink; set system radius key s3cr3t;\n"), 1000)[:64<<10]
	dev, err := keystore.GenerateDevice("SN1", keystore.P256)
	if err != nil {
		b.Fatal(err)
	}
	for _, akt := range []keystore.KeyType{keystore.P256, keystore.RSA2048} {
		appID, err := appliance.Generate("pop1-a", akt)
		if err != nil {
			b.Fatal(err)
		}
		app, err := appliance.New(appID.Key, appID.Cert)
		if err != nil {
			b.Fatal(err)
		}
		kinds := []struct {
			name, file string
			data       func() []byte
		}{
			{"plaintext", "SN1.cfg", func() []byte { return config }},
			{"appliance-" + string(akt), "SN1.cfg.cms", func() []byte { return mustSeal(b, appID.Cert, config) }},
			{"presealed", "SN1.enc", func() []byte { return mustSeal(b, dev.Cert, config) }},
		}
		for _, k := range kinds {
			if akt != keystore.P256 && k.name != "appliance-"+string(akt) {
				continue // plaintext and presealed do not depend on the appliance key
			}
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, k.file), k.data(), 0o600); err != nil {
				b.Fatal(err)
			}
			old := time.Now().Add(-time.Minute)
			_ = os.Chtimes(filepath.Join(dir, k.file), old, old)
			cs := certs{"SN1": dev}
			d, err := configdir.New(configdir.Config{Dir: dir, MaxSize: 1 << 20, Appliance: app}, cs, zap.NewNop(), nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, cached := range []bool{false, true} {
				size := int64(1) // nothing fits: every fetch is cold
				name := k.name + "/cold"
				if cached {
					size, name = 64<<20, k.name+"/cached"
				}
				b.Run(name, func(b *testing.B) {
					core, err := New(Config{CacheSize: size}, Deps{Configs: d, Certificates: cs})
					if err != nil {
						b.Fatal(err)
					}
					remote := netip.MustParseAddrPort("192.0.2.10:1234")
					if _, err := core.Prepare(NewAttempt("SN1.enc", remote)); err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(len(config)))
					b.ReportAllocs()
					cpu0 := processCPU()
					for b.Loop() {
						a := NewAttempt("SN1.enc", remote)
						if _, err := core.Prepare(a); err != nil || a.Cached != cached {
							b.Fatalf("%v (cached %v)", err, a.Cached)
						}
					}
					// CPU time (user + system, garbage collection included):
					// steadier than wall time on a machine shared with other work.
					b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

func mustSeal(b *testing.B, cert *x509.Certificate, data []byte) []byte {
	b.Helper()
	out, err := cms.Seal(cert, data, cms.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// processCPU is the CPU time this process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
