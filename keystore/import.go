package keystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Import adds a device certificate to the directory as <serial>.crt: PEM
// or DER, alone or with its chain (PEM, or a PKCS#7 bundle with
// Options.PKCS7), the leaf picked by ParseBundle and written first, the
// chain after it. serial, when not empty, picks the leaf whose subject
// names it, or overrides the subject's serial, and is remembered through
// the pin. A key that differs from the one pinned
// for the serial is refused unless replace is set (RFC 8886 section 5.2);
// the error names both fingerprints. Nothing is written on failure.
func (s *Store) Import(data []byte, serial string, replace bool) (Entry, error) {
	b, err := ParseBundle(data, serial, s.opts.PKCS7)
	if err != nil {
		return Entry{}, err
	}
	cert := b.Leaf
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
		if err := writeFileAtomic(filepath.Join(s.opts.Dir, name), b.PEM(), 0o644); err != nil {
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
