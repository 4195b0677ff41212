package configdir

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// askingCerts is a keystore that fetches missing certificates on demand
// the way keystore.Fetcher does: at once, for a serial the configs
// directory has (it drops the others: their config is gone).
type askingCerts struct {
	mu     sync.Mutex
	dir    *Dir
	wanted []bool // for each ask, whether the directory had the serial
}

func (a *askingCerts) HasCertificate(serial string) bool {
	has := a.dir.Has(serial)
	a.mu.Lock()
	a.wanted = append(a.wanted, has)
	a.mu.Unlock()
	return false
}

func (a *askingCerts) Certificate(serial string) (*x509.Certificate, string, bool) {
	a.HasCertificate(serial)
	return nil, "", false
}

// TestDroppedConfigAsksForCertificateOnceKnown: a config dropped for a
// serial with no certificate asks the keystore for it at a moment when the
// directory has the config, so that a fetch on demand is not dropped as
// unwanted (it was asked only before the file was recorded, and the
// certificate was then fetched only when the device asked).
func TestDroppedConfigAsksForCertificateOnceKnown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certs := &askingCerts{}
	d, err := New(Config{Dir: dir, Settle: time.Millisecond, MaxSize: 1 << 20}, certs, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	certs.dir = d
	if err := d.initialScan(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "SN9.cfg")
	if err := os.WriteFile(p, []byte("hostname sn9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if again := d.check("SN9.cfg"); again {
		t.Fatal("a settled file was to be checked again")
	}
	certs.mu.Lock()
	defer certs.mu.Unlock()
	for _, w := range certs.wanted {
		if w {
			return
		}
	}
	t.Fatalf("the keystore was asked %d times, never while the directory had the config", len(certs.wanted))
}
