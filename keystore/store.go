package keystore

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options configure a Store.
type Options struct {
	Dir string
	// Settle is how long a file must be left alone before it is read, so a
	// file being written is never used half-done. Default 250ms.
	Settle time.Duration
	// OnChange is called after a serial's certificate is added, replaced or
	// removed.
	OnChange func(serial string)
	// ReadOnly never writes the pin database: new keys stay unpinned. For
	// commands that only look.
	ReadOnly bool
	// AllowSmallRSA accepts RSA keys under 2048 bits.
	AllowSmallRSA bool
	// PKCS7 reads .p7b bundles (cms.ParseCertificates); nil: PEM and DER
	// certificates only.
	PKCS7 PKCS7Parser

	FetchURL     string        // vendor directory template, {serial} is replaced
	FetchTimeout time.Duration // default 10s
	FetchMaxSize int64         // default 64 KiB
	HTTPClient   *http.Client  // default: system roots, FetchTimeout
}

// Entry describes one usable certificate.
type Entry struct {
	Serial      string `json:"serial"`
	KeyType     string `json:"key_type"`    // "P-256", "RSA-2048", ...
	Fingerprint string `json:"fingerprint"` // SHA-256 of the SubjectPublicKeyInfo, hex
	File        string `json:"file"`        // name in the directory
}

// record is a usable certificate held in memory: its DER, parsed on
// demand, so that a hundred thousand devices stay cheap.
type record struct {
	entry Entry
	fp    Fingerprint
	der   []byte
}

// Store is the keystore: device certificates by serial. It is safe for
// concurrent use.
type Store struct {
	opts    Options
	log     *zap.Logger
	metrics *metrics
	ready   chan struct{}

	scanMu sync.Mutex // one rescan at a time
	mu     sync.RWMutex
	serial map[string]*record
	files  map[string]*fileRec // by file name, for incremental rescans
	// The pins file version the last complete resolve used, and whether
	// that resolve left nothing to retry; guarded by scanMu.
	resolvedPins fileVersion
	resolvedOK   bool
	problems     map[string]problem // file → why it gives no certificate; each logged once
	scanned      bool               // the first scan is summarised, not logged per file
}

// Open scans opts.Dir and returns the store. A missing directory is an
// error; an empty one is fine.
func Open(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Store, error) {
	if opts.Settle <= 0 {
		opts.Settle = 250 * time.Millisecond
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Second
	}
	if opts.FetchMaxSize <= 0 {
		opts.FetchMaxSize = 64 << 10
	}
	if fi, err := os.Stat(opts.Dir); err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("keys directory %s is not a directory", opts.Dir)
	}
	s := &Store{
		opts: opts, log: log, ready: make(chan struct{}),
		serial: map[string]*record{}, files: map[string]*fileRec{}, problems: map[string]problem{},
		metrics: newMetrics(reg),
	}
	if _, err := s.rescan(); err != nil {
		return nil, err
	}
	return s, nil
}

// Certificate returns the certificate for serial and its fingerprint
// (hex). It implements tftpd.Certificates.
func (s *Store) Certificate(serial string) (*x509.Certificate, string, bool) {
	s.mu.RLock()
	r, ok := s.serial[serial]
	s.mu.RUnlock()
	if !ok {
		return nil, "", false
	}
	cert, err := x509.ParseCertificate(r.der)
	if err != nil { // parsed fine when loaded; cannot happen
		s.log.Error("stored certificate no longer parses", zap.String("serial", serial), zap.Error(err))
		return nil, "", false
	}
	return cert, r.entry.Fingerprint, true
}

// Fingerprint returns serial's key fingerprint (hex) without parsing the
// certificate.
func (s *Store) Fingerprint(serial string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.serial[serial]
	if !ok {
		return "", false
	}
	return r.entry.Fingerprint, true
}

// HasCertificate reports whether serial has a usable certificate.
func (s *Store) HasCertificate(serial string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.serial[serial]
	return ok
}

// Lookup returns the entry for serial.
func (s *Store) Lookup(serial string) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.serial[serial]
	if !ok {
		return Entry{}, false
	}
	return r.entry, true
}

// List returns every usable certificate, sorted by serial.
func (s *Store) List() []Entry {
	s.mu.RLock()
	out := make([]Entry, 0, len(s.serial))
	for _, r := range s.serial {
		out = append(out, r.entry)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out
}

// Problem is a file in the keys directory that gives no usable
// certificate, and why.
type Problem struct {
	File   string `json:"file"`
	Serial string `json:"serial,omitempty"` // when the file names one
	State  string `json:"state"`            // refused, duplicate, invalid
	Reason string `json:"reason"`
}

// Problems lists the files that give no usable certificate, by file name.
func (s *Store) Problems() []Problem {
	s.mu.RLock()
	out := make([]Problem, 0, len(s.problems))
	for name, p := range s.problems {
		out = append(out, Problem{File: name, Serial: p.serial, State: p.state, Reason: p.reason})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Len is the number of usable certificates.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.serial)
}

// Rescan reads the directory again (SIGHUP).
func (s *Store) Rescan() error {
	_, err := s.rescan()
	return err
}

// Ready is closed when Run watches the directory.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// ErrPinMismatch means a certificate's key differs from the key pinned
// for its serial.
var ErrPinMismatch = errors.New("key does not match the pinned key")

// ErrNoSuchSerial means no certificate is stored for the serial.
var ErrNoSuchSerial = errors.New("no certificate for this serial")
