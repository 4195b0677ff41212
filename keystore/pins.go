package keystore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// The pin database lives in the keys directory; the scanner skips dot files.
const (
	pinsFile = ".sealboot-pins"
	lockFile = ".sealboot-pins.lock"
)

// pins maps serials to pinned key fingerprints, and back: a key is pinned
// to exactly one serial.
type pins struct {
	bySerial map[string]Fingerprint
	byFP     map[Fingerprint]string
}

func newPins() *pins {
	return &pins{bySerial: map[string]Fingerprint{}, byFP: map[Fingerprint]string{}}
}

func (p *pins) set(serial string, fp Fingerprint) {
	if old, ok := p.bySerial[serial]; ok {
		delete(p.byFP, old)
	}
	if oldSerial, ok := p.byFP[fp]; ok {
		delete(p.bySerial, oldSerial)
	}
	p.bySerial[serial], p.byFP[fp] = fp, serial
}

func (p *pins) remove(serial string) {
	if fp, ok := p.bySerial[serial]; ok {
		delete(p.byFP, fp)
		delete(p.bySerial, serial)
	}
}

// maxPinsFile bounds the pin database: about 90 bytes a serial.
const maxPinsFile = 256 << 20

// loadPins reads the pin database of dir; a missing file is an empty one.
func loadPins(dir string) (*pins, error) {
	d, err := regfile.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read key pins: %w", err)
	}
	defer d.Close()
	return loadPinsFrom(d)
}

// loadPinsFrom reads the pin database of dir. It must be a regular file:
// a symbolic link there is an error, not an empty database.
func loadPinsFrom(dir *regfile.Dir) (*pins, error) {
	p := newPins()
	data, _, err := dir.ReadFile(pinsFile, maxPinsFile)
	var nr *regfile.NotRegularError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, nil
	case errors.As(err, &nr):
		return nil, fmt.Errorf("read key pins: %w: the pin file must be a regular file in keys_dir", err)
	case err != nil:
		return nil, fmt.Errorf("read key pins: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || !ValidSerial(f[0]) {
			return nil, fmt.Errorf("%s line %d: want \"<serial> <sha256 fingerprint>\"", pinsFile, n)
		}
		fp, err := ParseFingerprint(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", pinsFile, n, err)
		}
		p.set(f[0], fp)
	}
	return p, nil
}

// save writes the database atomically: temp file, fsync, rename, fsync dir.
func (p *pins) save(dir string) error {
	serials := make([]string, 0, len(p.bySerial))
	for s := range p.bySerial {
		serials = append(serials, s)
	}
	sort.Strings(serials)
	var b bytes.Buffer
	b.WriteString("# sealboot key pins (RFC 8886 section 3): <serial> <SHA-256 of the SubjectPublicKeyInfo>.\n")
	b.WriteString("# Maintained by sealboot; change a pin with `sealboot keys import --replace`.\n")
	for _, s := range serials {
		fp := p.bySerial[s]
		fmt.Fprintf(&b, "%s %s\n", s, fp)
	}
	return writeFileAtomic(filepath.Join(dir, pinsFile), b.Bytes(), 0o640)
}

// updatePins applies fn to the current database under an exclusive lock
// shared with other sealboot processes (the daemon and the keys command),
// and saves the result when fn returns nil.
func updatePins(dir string, fn func(*pins) error) (*pins, error) {
	// O_NOFOLLOW: a link planted there must not make us create or open
	// its target.
	lock, err := openLock(dir)
	if err != nil {
		return nil, fmt.Errorf("lock key pins: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock key pins: %w", err)
	}
	defer func() { _ = unix.Flock(int(lock.Fd()), unix.LOCK_UN) }()
	p, err := loadPins(dir)
	if err != nil {
		return nil, err
	}
	if err := fn(p); err != nil {
		return nil, err
	}
	if err := p.save(dir); err != nil {
		return nil, fmt.Errorf("save key pins: %w", err)
	}
	return p, nil
}

// openLock opens (and makes) the lock file, given to the directory's
// owner when this process can (its content does not matter). A lock file
// it may not write, left by an older sealboot run as root, is opened for
// reading: flock needs no more.
func openLock(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	lock, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o644)
	if errors.Is(err, fs.ErrPermission) {
		return os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, err
	}
	_ = giveToDirOwner(lock, dir) // best effort: anyone may open it to lock
	return lock, nil
}

// writeFileAtomic writes data to path so that readers see the old or the
// new content, never a part: temp file in the same directory, given to
// the directory's owner and group, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := giveToDirOwner(f, dir); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
