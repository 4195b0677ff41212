package keystore

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// certificateOf parses r's certificate from its DER, which is read from
// its file on first use and then kept. That file must still hold a usable
// certificate with the record's fingerprint (the pinned one): neither a
// file changed since the scan nor the scan cache ever supplies another
// key to seal to.
func (s *Store) certificateOf(r *record) (*x509.Certificate, error) {
	f := r.file
	if p := f.loaded.Load(); p != nil {
		return x509.ParseCertificate(*p)
	}
	dir, err := regfile.OpenDir(s.opts.Dir)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	data, _, err := dir.ReadFile(f.name, maxCertificateFile)
	if err != nil {
		return nil, err
	}
	b, err := ParseBundle(data, "", s.opts.PKCS7) // as the scan parsed it
	if err != nil {
		return nil, err
	}
	cert := b.Leaf
	if got := SPKIFingerprint(cert); got != r.fp {
		return nil, fmt.Errorf("key fingerprint %s, want %s", got, r.fp)
	}
	if err := usableKey(cert, s.opts.AllowSmallRSA); err != nil {
		return nil, err
	}
	raw := cert.Raw
	f.loaded.Store(&raw)
	return cert, nil
}

// distrust marks f as not what it says, drops the scan cache and asks Run
// to parse the directory again: the next scan reads f afresh.
func (s *Store) distrust(f *fileRec) {
	f.stale.Store(true)
	if f.fromCache { // then none of the cache's records is believed
		s.mu.RLock()
		for _, o := range s.files {
			if o.fromCache && o.loaded.Load() == nil {
				o.stale.Store(true)
			}
		}
		s.mu.RUnlock()
	}
	if s.opts.ScanCache && !s.opts.ReadOnly {
		if err := os.Remove(filepath.Join(s.opts.Dir, scanCacheFile)); err != nil && !os.IsNotExist(err) {
			s.log.Warn("cannot remove the key scan cache", zap.Error(err))
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
