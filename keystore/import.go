package keystore

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Import adds a certificate (PEM or DER) to the directory as
// <serial>.crt. serial, when not empty, overrides the subject's serial and
// is remembered through the pin. A key that differs from the one pinned
// for the serial is refused unless replace is set (RFC 8886 section 5.2);
// the error names both fingerprints. Nothing is written on failure.
func (s *Store) Import(data []byte, serial string, replace bool) (Entry, error) {
	cert, err := ParseCertificate(data)
	if err != nil {
		return Entry{}, err
	}
	if err := usableKey(cert, s.opts.AllowSmallRSA); err != nil {
		return Entry{}, fmt.Errorf("certificate cannot be used: %w", err)
	}
	if serial == "" {
		if serial, err = SubjectSerial(cert); err != nil {
			return Entry{}, fmt.Errorf("%w; give the serial explicitly", err)
		}
	} else if !ValidSerial(serial) {
		return Entry{}, fmt.Errorf("invalid serial %q (letters, digits, '.', '_', '-', at most 64)", serial)
	}
	fp := SPKIFingerprint(cert)
	name := serial + ".crt"
	_, err = updatePins(s.opts.Dir, func(p *pins) error {
		if err := checkPin(p, serial, fp, replace); err != nil {
			return err
		}
		pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		if err := writeFileAtomic(filepath.Join(s.opts.Dir, name), pemData, 0o644); err != nil {
			return fmt.Errorf("write certificate: %w", err)
		}
		s.removeOtherFiles(serial, name)
		p.set(serial, fp)
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("import certificate for %s: %w", serial, err)
	}
	if _, err := s.rescan(name); err != nil {
		return Entry{}, err
	}
	return Entry{Serial: serial, KeyType: KeyTypeName(cert), Fingerprint: fp.String(), File: name}, nil
}

func checkPin(p *pins, serial string, fp Fingerprint, replace bool) error {
	if replace {
		return nil
	}
	if pinned, ok := p.bySerial[serial]; ok && pinned != fp {
		return fmt.Errorf("%w: serial %s is pinned to key %s, this certificate has key %s (use --replace to replace the device key, RFC 8886 section 5.2)",
			ErrPinMismatch, serial, pinned, fp)
	}
	if other, ok := p.byFP[fp]; ok && other != serial {
		return fmt.Errorf("%w: key %s is pinned to serial %s, not %s (use --replace to move it)", ErrPinMismatch, fp, other, serial)
	}
	return nil
}

// removeOtherFiles deletes files that held serial's certificate under
// another name, so a replaced certificate does not linger as "refused".
func (s *Store) removeOtherFiles(serial, keep string) {
	s.mu.RLock()
	var stale []string
	if r, ok := s.serial[serial]; ok && r.entry.File != keep {
		stale = append(stale, r.entry.File)
	}
	// Another serial's certificate may carry this subject (imported with
	// --serial): it is that serial's file, not ours to delete.
	inUse := map[string]bool{}
	for other, r := range s.serial {
		if other != serial {
			inUse[r.entry.File] = true
		}
	}
	for name, f := range s.files {
		if f.subject == serial && name != keep && !inUse[name] {
			stale = append(stale, name)
		}
	}
	s.mu.RUnlock()
	for _, name := range stale {
		_ = os.Remove(filepath.Join(s.opts.Dir, name))
	}
}

// Remove deletes serial's certificate files and its pin.
func (s *Store) Remove(serial string) error {
	s.mu.RLock()
	r, ok := s.serial[serial]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("remove %s: %w", serial, ErrNoSuchSerial)
	}
	_, err := updatePins(s.opts.Dir, func(p *pins) error {
		if err := os.Remove(filepath.Join(s.opts.Dir, r.entry.File)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.removeOtherFiles(serial, "")
		p.remove(serial)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", serial, err)
	}
	return s.Rescan()
}

// Fetch downloads serial's certificate from the vendor directory
// (opts.FetchURL, RFC 8886 section 4.2) over HTTPS with normal certificate
// verification, a timeout and a size limit, and imports it under the same
// pinning rules. The certificate must be for serial.
func (s *Store) Fetch(ctx context.Context, serial string, replace bool) (Entry, error) {
	if !ValidSerial(serial) {
		return Entry{}, fmt.Errorf("invalid serial %q", serial)
	}
	u, err := fetchURL(s.opts.FetchURL, serial)
	if err != nil {
		return Entry{}, err
	}
	data, err := s.download(ctx, u)
	if err != nil {
		return Entry{}, fmt.Errorf("fetch certificate for %s: %w", serial, err)
	}
	cert, err := ParseCertificate(data)
	if err != nil {
		return Entry{}, fmt.Errorf("fetch certificate for %s from %s: %w", serial, u, err)
	}
	if got, err := SubjectSerial(cert); err != nil || got != serial {
		return Entry{}, fmt.Errorf("fetch certificate for %s from %s: the certificate is for serial %q", serial, u, got)
	}
	return s.Import(data, "", replace)
}

func fetchURL(template, serial string) (string, error) {
	if template == "" {
		return "", errors.New("no vendor certificate URL configured (keystore.fetch_url or --url)")
	}
	if !strings.Contains(template, "{serial}") {
		return "", fmt.Errorf("URL template %q has no {serial}", template)
	}
	u, err := url.Parse(strings.ReplaceAll(template, "{serial}", url.PathEscape(serial)))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("invalid URL template %q", template)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("URL %s must use https (RFC 8886 section 4.2)", u)
	}
	return u.String(), nil
}

func (s *Store) download(ctx context.Context, u string) ([]byte, error) {
	base := s.opts.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: s.opts.FetchTimeout}
	}
	client := *base
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s refused: certificates are fetched over https only (RFC 8886 section 4.2)", req.URL.Redacted())
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if resp.ContentLength > s.opts.FetchMaxSize {
		return nil, fmt.Errorf("GET %s: response of %d bytes exceeds the %d-byte limit", u, resp.ContentLength, s.opts.FetchMaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.FetchMaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(data)) > s.opts.FetchMaxSize {
		return nil, fmt.Errorf("GET %s: response exceeds the %d-byte limit", u, s.opts.FetchMaxSize)
	}
	return data, nil
}
