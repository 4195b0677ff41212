package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// fileRec is what a scan learned about one file in the directory.
type fileRec struct {
	name    string
	size    int64
	mtime   time.Time
	ctime   time.Time // a rewrite that keeps size, mtime and inode (cp -p) still changes it; freshness is by mtime, which cp -p sets back only once the content is written
	ino     uint64
	der     []byte
	fp      Fingerprint
	subject string // serial from the subject; "" when unusable
	// subjectProblem: why the subject names no serial. The certificate is
	// still usable when its key is pinned to a serial (imported with
	// --serial); otherwise that is its problem.
	subjectProblem string
	keyType        string
	problem        string // why the file gives no usable certificate
}

func (f *fileRec) same(st *unix.Stat_t) bool {
	return f.size == st.Size && f.mtime.Equal(mtimeOf(st)) && f.ctime.Equal(ctimeOf(st)) && f.ino == st.Ino
}

func mtimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }
func ctimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Ctim.Unix()) }

// ignored reports whether name is not a certificate candidate: dot files
// (the pin database, editors' and our temporary files) and backups.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".tmp")
}

// rescan reads what changed in the directory, resolves serials against the
// pins, and swaps in the result. It reports whether some file was too fresh
// to read and needs another scan after the settle delay.
func (s *Store) rescan(trusted ...string) (again bool, err error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	// Every entry is reached from one descriptor of the directory, opened
	// by its path (which may be a symlink to a release), without
	// following links: certificates and the pin file are regular files
	// in keys_dir.
	dir, err := regfile.OpenDir(s.opts.Dir)
	if err != nil {
		return false, fmt.Errorf("keys directory: %w", err)
	}
	defer dir.Close()
	files, again, err := s.readFiles(dir, trusted)
	if err != nil {
		return false, err
	}
	pins := versionOf(dir, pinsFile)
	if s.resolvedOK && pins == s.resolvedPins && s.unchanged(files) {
		// Nothing to resolve again: with 100,000 certificates that would
		// allocate ~100 MiB to arrive where we are.
		return again, nil
	}
	s.resolvedOK = false
	p, err := loadPinsFrom(dir)
	if err != nil {
		return again, err
	}
	res := resolve(files, p)
	if len(res.toPin) > 0 && !s.opts.ReadOnly {
		if p, err = s.pinNew(res.toPin); err != nil {
			s.log.Error("cannot write key pins", zap.String("dir", s.opts.Dir), zap.Error(err))
		} else {
			pins = versionOf(dir, pinsFile)
			res = resolve(files, p)
		}
	}
	// A pin that could not be written is retried by the next rescan.
	s.resolvedPins, s.resolvedOK = pins, len(res.toPin) == 0 || s.opts.ReadOnly
	s.swap(files, res)
	return again, nil
}

// unchanged reports whether a first scan is done and files holds exactly
// the records the store already has.
func (s *Store) unchanged(files map[string]*fileRec) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.scanned || len(files) != len(s.files) {
		return false
	}
	for name, r := range files {
		if s.files[name] != r {
			return false
		}
	}
	return true
}

// fileVersion tells versions of a file apart the way fileRec.same does.
type fileVersion struct {
	size, mtime, ctime int64
	ino                uint64
}

// versionOf is the version of the entry name of dir; the zero value when
// it cannot be stat'ed.
func versionOf(dir *regfile.Dir, name string) fileVersion {
	st, err := dir.Lstat(name)
	if err != nil {
		return fileVersion{}
	}
	return fileVersion{size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino}
}

// readFiles lists the directory and parses new or changed files, reusing
// what an earlier scan parsed, with the stat and parse work spread over
// every CPU. Files modified within the settle delay are left for the next
// scan (their previous version, if any, stays), except trusted ones: files
// this store wrote atomically itself. Subdirectories are not looked into;
// a symbolic link, FIFO, socket or device is a file with a problem.
func (s *Store) readFiles(dir *regfile.Dir, trusted []string) (map[string]*fileRec, bool, error) {
	names, err := dir.Names()
	if err != nil {
		return nil, false, fmt.Errorf("keys directory %s: %w", s.opts.Dir, err)
	}
	s.mu.RLock()
	old := s.files
	s.mu.RUnlock()
	fresh := time.Now().Add(-s.opts.Settle)
	results := make([]*fileRec, len(names))
	deferred := make([]bool, len(names))
	parallel(len(names), func(i int) {
		name := names[i]
		if ignored(name) {
			return
		}
		st, err := dir.Stat(name) // lstat: one syscall
		var nr *regfile.NotRegularError
		prev := old[name]
		switch {
		case errors.Is(err, fs.ErrNotExist): // gone since the listing
		case errors.As(err, &nr) && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		case err != nil && nr == nil:
			results[i] = &fileRec{name: name, problem: "unreadable: " + err.Error(), mtime: time.Now()} // compares as changed until it is readable
		case prev != nil && prev.same(&st):
			results[i] = prev
		case mtimeOf(&st).After(fresh) && !slices.Contains(trusted, name):
			deferred[i], results[i] = true, prev
		case nr != nil:
			results[i] = &fileRec{name: name, size: st.Size, mtime: mtimeOf(&st), ctime: ctimeOf(&st), ino: st.Ino,
				problem: nr.Kind + ": certificates must be regular files in keys_dir"}
		default:
			results[i] = s.parseFile(dir, name)
		}
	})
	out := make(map[string]*fileRec, len(names))
	again := slices.Contains(deferred, true)
	for _, r := range results {
		if r != nil {
			out[r.name] = r
		}
	}
	return out, again, nil
}

// parallel runs fn(0..n-1) on every CPU.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int, 256)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// maxCertificateFile is the largest file read as a certificate.
const maxCertificateFile = 1 << 20

// parseFile reads and parses one certificate file; its version is that of
// the descriptor read (open, fstat, read, close: at a hundred thousand
// certificates, os.ReadFile's extra stat and poller registration double
// the scan time).
func (s *Store) parseFile(dir *regfile.Dir, name string) *fileRec {
	r := &fileRec{name: name}
	data, st, err := dir.ReadFile(name, maxCertificateFile)
	r.size, r.mtime, r.ctime, r.ino = st.Size, mtimeOf(&st), ctimeOf(&st), st.Ino
	var nr *regfile.NotRegularError
	switch {
	case errors.As(err, &nr): // replaced since it was stat'ed
		r.problem, r.mtime = nr.Kind+": certificates must be regular files in keys_dir", time.Now()
		return r
	case errors.Is(err, regfile.ErrTooLarge):
		r.problem = "larger than 1 MiB: not a certificate"
		return r
	case err != nil:
		r.problem, r.mtime = "unreadable: "+err.Error(), time.Now() // compares as changed until it is readable
		return r
	}
	b, err := ParseBundle(data, "", s.opts.PKCS7)
	if err != nil {
		r.problem = err.Error()
		return r
	}
	cert := b.Leaf
	r.der, r.fp, r.keyType = cert.Raw, SPKIFingerprint(cert), KeyTypeName(cert)
	if err := usableKey(cert, s.opts.AllowSmallRSA); err != nil {
		r.problem = err.Error()
		return r
	}
	if r.subject, err = SubjectSerial(cert); err != nil {
		r.subjectProblem = err.Error()
	}
	return r
}

// resolution is the outcome of matching files to serials and pins.
type resolution struct {
	chosen   map[string]*fileRec // serial → file whose certificate is used
	problems map[string]problem  // file → why it is not used
	toPin    map[string]Fingerprint
}

type problem struct {
	state, serial, reason string
	pinned                Fingerprint
	fp                    Fingerprint
}

// resolve maps each usable file to a serial: the serial its key is pinned
// to, else its subject's. Per serial, the pinned key wins; a different key
// is refused (RFC 8886 section 5.2 needs an explicit replacement). An
// unpinned serial with one key is chosen and pinned on first sight; with
// several different keys, none is trusted.
func resolve(files map[string]*fileRec, p *pins) resolution {
	res := resolution{chosen: map[string]*fileRec{}, problems: map[string]problem{}, toPin: map[string]Fingerprint{}}
	groups := map[string][]*fileRec{}
	for _, f := range sortedFiles(files) {
		if f.problem != "" {
			res.problems[f.name] = problem{state: "invalid", reason: f.problem, fp: f.fp}
			continue
		}
		serial, ok := p.byFP[f.fp]
		if !ok {
			if f.subjectProblem != "" {
				res.problems[f.name] = problem{state: "invalid", reason: f.subjectProblem, fp: f.fp}
				continue
			}
			serial = f.subject
		}
		groups[serial] = append(groups[serial], f)
	}
	for serial, group := range groups {
		pinned, isPinned := p.bySerial[serial]
		if !isPinned && !sameKey(group) {
			for _, f := range group {
				res.problems[f.name] = problem{state: "refused", serial: serial, fp: f.fp,
					reason: "several certificates with different keys claim this serial and none is pinned; remove all but one, or import one with `sealboot keys import`"}
			}
			continue
		}
		for _, f := range group {
			switch {
			case isPinned && f.fp != pinned:
				res.problems[f.name] = problem{state: "refused", serial: serial, fp: f.fp, pinned: pinned,
					reason: "key differs from the pinned key; replace it with `sealboot keys import --replace`"}
			case res.chosen[serial] != nil:
				res.problems[f.name] = problem{state: "duplicate", serial: serial, fp: f.fp,
					reason: "same key as " + res.chosen[serial].name}
			default:
				res.chosen[serial] = f
				if !isPinned {
					res.toPin[serial] = f.fp
				}
			}
		}
	}
	return res
}

func sameKey(group []*fileRec) bool {
	for _, f := range group[1:] {
		if f.fp != group[0].fp {
			return false
		}
	}
	return true
}

func sortedFiles(files map[string]*fileRec) []*fileRec {
	out := make([]*fileRec, 0, len(files))
	for _, f := range files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// pinNew pins first-seen keys. Another process may have pinned a serial
// meanwhile: its pin is kept.
func (s *Store) pinNew(toPin map[string]Fingerprint) (*pins, error) {
	return updatePins(s.opts.Dir, func(p *pins) error {
		for serial, fp := range toPin {
			if _, taken := p.bySerial[serial]; taken {
				continue
			}
			if _, taken := p.byFP[fp]; taken {
				continue
			}
			p.set(serial, fp)
		}
		return nil
	})
}
