// Package anchors is a watched directory of trust anchors: the vendors' CA
// certificates that device certificates (IDevIDs, IEEE 802.1AR) chain to.
// The SZTP bootstrap server authenticates a device by its TLS client
// certificate against them (RFC 8572 section 5.3).
//
// Each file holds one or more PEM (or one DER) certificates; its base name
// without extension names the vendor (cisco.pem holds Cisco's roots), so
// that a device authenticated by a certificate names its vendor too. Files
// are read as regular files only, without following links, and the
// directory is read again after changes settle and on Rescan (SIGHUP), as
// the keystore is.
package anchors

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/regfile"
	"github.com/sealboot/sealboot/keystore/watchdir"
)

// maxFile bounds a trust anchor file: a bundle of a few dozen roots.
const maxFile = 1 << 20

// Errors of Verify, for errors.Is.
var (
	// ErrNoCertificate means the peer sent no certificate.
	ErrNoCertificate = errors.New("no client certificate")
	// ErrUntrusted means the certificate chains to no trust anchor (or has
	// expired, or is not for client authentication).
	ErrUntrusted = errors.New("certificate does not chain to a trust anchor")
)

// set is one reading of the directory.
type set struct {
	byVendor map[string]*x509.CertPool
	count    int
	files    []string
}

// Dir is the directory of trust anchors. It is safe for concurrent use.
type Dir struct {
	path   string
	settle time.Duration
	log    *zap.Logger
	cur    atomic.Pointer[set]
	ready  chan struct{}
	scanMu sync.Mutex
}

// Open reads the directory. A missing directory is an error; an empty one
// trusts no device.
func Open(path string, settle time.Duration, log *zap.Logger) (*Dir, error) {
	if settle <= 0 {
		settle = 250 * time.Millisecond
	}
	d := &Dir{path: path, settle: settle, log: log, ready: make(chan struct{})}
	if err := d.Rescan(); err != nil {
		return nil, err
	}
	return d, nil
}

// Rescan reads the directory again and replaces the anchors at once.
func (d *Dir) Rescan() error {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	dir, err := regfile.OpenDir(d.path)
	if err != nil {
		return fmt.Errorf("trust anchors: %w", err)
	}
	defer dir.Close()
	names, err := dir.Names()
	if err != nil {
		return fmt.Errorf("trust anchors: %w", err)
	}
	sort.Strings(names)
	s := &set{byVendor: map[string]*x509.CertPool{}}
	for _, name := range names {
		if strings.HasPrefix(name, ".") {
			continue
		}
		certs, err := readCerts(dir, name)
		if err != nil {
			d.log.Warn("trust anchor file refused", zap.String("event", "sztp.trust_anchor"), zap.String("file", name),
				zap.String("state", "invalid"), zap.String("reason", err.Error()))
			continue
		}
		vendor := Vendor(name)
		pool := s.byVendor[vendor]
		if pool == nil {
			pool = x509.NewCertPool()
			s.byVendor[vendor] = pool
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
		s.count += len(certs)
		s.files = append(s.files, name)
	}
	old := d.cur.Swap(s)
	if old == nil || old.count != s.count || strings.Join(old.files, ",") != strings.Join(s.files, ",") {
		d.log.Info("trust anchors loaded", zap.String("event", "sztp.trust_anchors"), zap.Int("certificates", s.count),
			zap.Strings("files", s.files))
	}
	return nil
}

// Vendor is the vendor a trust anchor file names: its base name without
// extension, in lower case.
func Vendor(file string) string {
	return strings.ToLower(strings.TrimSuffix(file, filepath.Ext(file)))
}

func readCerts(dir *regfile.Dir, name string) ([]*x509.Certificate, error) {
	data, _, err := dir.ReadFile(name, maxFile)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(data), "-----BEGIN ") {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("not a PEM or DER certificate: %v", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in the file")
	}
	return out, nil
}

// Len is the number of trust anchor certificates.
func (d *Dir) Len() int { return d.cur.Load().count }

// Verify checks a client's certificate chain (leaf first, then the
// intermediates it sent) against the anchors at now, for TLS client
// authentication, and returns the vendor of the anchor it chains to.
func (d *Dir) Verify(chain []*x509.Certificate, now time.Time) (vendor string, err error) {
	if len(chain) == 0 {
		return "", ErrNoCertificate
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	s := d.cur.Load()
	vendors := make([]string, 0, len(s.byVendor))
	for v := range s.byVendor {
		vendors = append(vendors, v)
	}
	sort.Strings(vendors)
	var last error = errors.New("no trust anchors")
	for _, v := range vendors {
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: s.byVendor[v], Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err == nil {
			return v, nil
		}
		last = err
	}
	return "", fmt.Errorf("%w: %v", ErrUntrusted, last)
}

// Ready is closed when Run watches the directory.
func (d *Dir) Ready() <-chan struct{} { return d.ready }

// Run watches the directory and reads it again once changes settle.
func (d *Dir) Run(ctx context.Context) error {
	events, err := watchdir.Watch(ctx, d.path, "trust anchors directory", d.log)
	if err != nil {
		return err
	}
	close(d.ready)
	if err := d.Rescan(); err != nil {
		d.log.Error("trust anchors rescan failed", zap.Error(err))
	}
	timer := time.NewTimer(d.settle)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
			timer.Reset(d.settle)
		case <-timer.C:
			if err := d.Rescan(); err != nil {
				d.log.Error("trust anchors rescan failed", zap.Error(err))
			}
		}
	}
}
