package configdir

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/keystore/regfile"
)

// entry is what is known of one config file once it has settled.
type entry struct {
	name    string
	serial  string // "" when the name carries no valid serial
	kind    string // KindPlaintext, KindPresealed, KindAppliance
	key     string // in Dir.bySerial: see keyOf
	size    int64
	mtime   int64 // UnixNano
	ctime   int64 // UnixNano: a rewrite that keeps size, mtime and inode (cp -p of a same-length file) still changes it
	ino     uint64
	problem string // why it cannot be served; "" when valid
	counted string // the state this entry is counted under in Dir.counts
	reason  string // why it is counted invalid (with counted, under Dir.mu)
	broken  string // why this version, sealed to the appliance, did not open (under Dir.mu)
	// recipients are who a sealed file is sealed to, read once settled.
	recipients []cms.Recipient
	sum        atomic.Pointer[[32]byte] // SHA-256 of this version, once read
}

func (e *entry) same(o *entry) bool {
	return e.size == o.size && e.mtime == o.mtime && e.ctime == o.ctime && e.ino == o.ino && e.problem == o.problem
}

// is says whether st is the version of the file that e describes.
func (e *entry) is(st *unix.Stat_t) bool {
	return st.Size == e.size && st.Mtim.Nano() == e.mtime && st.Ctim.Nano() == e.ctime && st.Ino == e.ino
}

// Dir is the watched configs directory. It is safe for concurrent use.
type Dir struct {
	cfg   Config
	kinds []kindExt // longest extension first
	certs CertificateChecker
	log   *zap.Logger
	m     *metrics
	ready chan struct{}

	// dir is the directory, opened by its path once (the path may be a
	// symlink to a release); its entries are reached without following
	// links. A full rescan opens the path again when it names another
	// directory now.
	dir atomic.Pointer[regfile.Dir]

	mu       sync.RWMutex
	bySerial map[string]*entry
	counts   map[string]int // entries by state, for the gauges
	recheck  chan string    // files Config found changing

	// openWarned is when the open-directory warning was last given;
	// openWarnEvery how often, at most (see warnIfOpen).
	openWarnMu    sync.Mutex
	openWarned    time.Time
	openWarnEvery time.Duration
}

// New scans the directory and returns it. A missing directory is an error.
func New(cfg Config, certs CertificateChecker, log *zap.Logger, reg prometheus.Registerer) (*Dir, error) {
	if cfg.Extension == "" {
		cfg.Extension = defaultExtension
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = defaultMaxSize
	}
	if cfg.Settle <= 0 {
		cfg.Settle = defaultSettle
	}
	kinds, err := kindsOf(&cfg)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("configs directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("configs directory %s is not a directory", cfg.Dir)
	}
	d := &Dir{cfg: cfg, kinds: kinds, certs: certs, log: log, m: newMetrics(reg), ready: make(chan struct{}),
		bySerial: map[string]*entry{}, counts: map[string]int{}, recheck: make(chan string, 1024), openWarnEvery: openWarnEvery}
	rd, err := regfile.OpenDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("configs directory: %w", err)
	}
	d.dir.Store(rd)
	if err := d.initialScan(); err != nil {
		rd.Close()
		return nil, err
	}
	return d, nil
}

// reopen opens the directory's path again when it names another directory
// than the one open (a release swapped in, the directory made again).
func (d *Dir) reopen() error {
	old := d.dir.Load()
	if old.Same(d.cfg.Dir) {
		return nil
	}
	rd, err := regfile.OpenDir(d.cfg.Dir)
	if err != nil {
		return fmt.Errorf("configs directory: %w", err)
	}
	if d.dir.CompareAndSwap(old, rd) {
		old.Close() // a read still using it ends as not ready, and is checked again
	} else {
		rd.Close()
	}
	return nil
}

// Config returns serial's plaintext config and the SHA-256 of its file.
// The file is read now and must still be the settled version: otherwise
// ErrNotReady. A config sealed to the appliance is opened now, in memory;
// a presealed one has no plaintext to give (ErrPresealed).
func (d *Dir) Config(serial string) ([]byte, [32]byte, error) {
	e, err := d.lookup(serial)
	if err != nil {
		return nil, [32]byte{}, err
	}
	if e.kind == KindPresealed {
		return nil, [32]byte{}, fmt.Errorf("%w (%s)", ErrPresealed, e.name)
	}
	data, sum, err := d.read(e)
	if err != nil || e.kind == KindPlaintext {
		return data, sum, err
	}
	pt, err := d.cfg.Appliance.Open(data)
	if err != nil {
		reason := fmt.Sprintf("does not open with the appliance key: %v", err)
		d.broke(e, reason)
		return nil, [32]byte{}, fmt.Errorf("%w: %s %s", ErrInvalid, e.name, reason)
	}
	return pt, sum, nil
}

// broke marks this version of e's file invalid for good (its recipients
// matched, but it does not open: damaged after sealing) and logs it once.
func (d *Dir) broke(e *entry, reason string) {
	d.mu.Lock()
	changed := d.bySerial[e.key] == e && e.broken == ""
	if changed {
		e.broken = reason
		d.count(e, StateInvalid, reason)
	}
	d.mu.Unlock()
	if changed {
		d.event(StateInvalid, reason, e)
	}
}

// Presealed returns serial's config file as it is when it is already
// sealed to the device (ok true), with its SHA-256 and its recipients (read
// when this version settled); ok is false when serial's config is of
// another kind (Config gives its plaintext).
func (d *Dir) Presealed(serial string) (data []byte, sum [32]byte, recipients []cms.Recipient, ok bool, err error) {
	e, err := d.lookup(serial)
	if err != nil || e.kind != KindPresealed {
		return nil, [32]byte{}, nil, false, err
	}
	data, sum, err = d.read(e)
	return data, sum, e.recipients, err == nil, err
}

// read reads e's settled file and records its SHA-256.
func (d *Dir) read(e *entry) ([]byte, [32]byte, error) {
	data, err := d.readSettled(e)
	if err != nil {
		d.changing(e)
		return nil, [32]byte{}, err
	}
	sum := sha256.Sum256(data)
	e.sum.Store(&sum)
	return data, sum, nil
}

// lookup returns serial's config file: ErrNotFound when there is none,
// ErrInvalid (with the reason) when it cannot be served.
func (d *Dir) lookup(serial string) (*entry, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	es := d.entriesLocked(serial)
	switch {
	case len(es) == 0:
		return nil, ErrNotFound
	case len(es) > 1:
		return nil, fmt.Errorf("%w: %s", ErrInvalid, ambiguity(serial, es))
	case es[0].problem != "":
		return nil, fmt.Errorf("%w: %s", ErrInvalid, es[0].problem)
	case es[0].counted == StateInvalid:
		return nil, fmt.Errorf("%w: %s", ErrInvalid, es[0].reason)
	}
	return es[0], nil
}

// Sum returns the SHA-256 of serial's config without reading it when this
// version has been read before: one stat checks that the file is still the
// version that settled. The TFTP server keys its cache of sealed configs
// by it.
func (d *Dir) Sum(serial string) ([32]byte, error) {
	e, err := d.lookup(serial)
	if err != nil {
		return [32]byte{}, err
	}
	st, err := d.dir.Load().Lstat(e.name)
	if err != nil || !e.is(&st) {
		d.changing(e)
		return [32]byte{}, ErrNotReady
	}
	if sum := e.sum.Load(); sum != nil {
		return *sum, nil
	}
	_, sum, err := d.read(e)
	return sum, err
}

func (d *Dir) changing(e *entry) {
	select {
	case d.recheck <- e.name:
	default: // Run is behind; its own events will catch up
	}
}

// readSettled reads e's file, checking on the open descriptor that it is
// the version that settled. A file replaced by a symlink, FIFO or other
// non-regular file since is not opened as such, or not read.
func (d *Dir) readSettled(e *entry) ([]byte, error) {
	f, err := d.dir.Load().Open(e.name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	defer f.Close()
	if !e.is(&f.Stat) {
		return nil, ErrNotReady
	}
	buf := make([]byte, e.size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("%w: short read", ErrNotReady)
	}
	// A rewrite in place that began after the check above may have
	// given the read a mix of two versions: check again.
	if st, err := f.Restat(); err != nil || !e.is(&st) {
		return nil, fmt.Errorf("%w: changed while being read", ErrNotReady)
	}
	return buf, nil
}

// Has reports whether serial has a config file, valid or not: the
// operator expects that device. It reads no file.
func (d *Dir) Has(serial string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.entriesLocked(serial)) > 0
}

// Len is the number of config files, valid or not.
func (d *Dir) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.bySerial)
}

// Ready is closed when Run watches the directory.
func (d *Dir) Ready() <-chan struct{} { return d.ready }

// initialScan loads the directory, in parallel, and logs a summary plus one
// event per invalid file.
func (d *Dir) initialScan() error {
	names, err := d.list()
	if err != nil {
		return err
	}
	entries := make([]*entry, len(names))
	parallel(len(names), func(i int) { entries[i], _ = d.inspect(names[i], time.Time{}) })
	plaintext := 0
	for _, e := range entries {
		if e != nil {
			d.bySerial[e.key] = e // all first: a file's state depends on its siblings
		}
	}
	for _, e := range entries {
		if e == nil {
			continue
		}
		state, reason := d.state(e)
		d.count(e, state, reason)
		if state == StateInvalid {
			d.event(state, reason, e)
		}
		if e.kind == KindPlaintext {
			plaintext++
		}
	}
	d.log.Info("configs directory scanned", zap.String("dir", d.cfg.Dir), zap.Int(StateReady, d.counts[StateReady]),
		zap.Int(StateWaitingForCert, d.counts[StateWaitingForCert]), zap.Int(StateInvalid, d.counts[StateInvalid]),
		zap.Int(KindPlaintext, plaintext))
	if plaintext > 0 {
		d.warnIfOpen(zap.Int(KindPlaintext, plaintext))
	}
	return nil
}

// openWarnEvery is how often, at most, the open-directory warning is given
// again for plaintext configs taken after the scan.
const openWarnEvery = time.Minute

// warnIfOpen warns when the directory is open to other users and holds
// plaintext configs; a directory of sealed configs only may be. It warns
// at most once per openWarnEvery: a deploy of many plaintext configs is
// one line, not one per file.
func (d *Dir) warnIfOpen(fields ...zap.Field) {
	fi, err := os.Stat(d.cfg.Dir)
	if err != nil || fi.Mode().Perm()&directoryModeWarning == 0 {
		return
	}
	d.openWarnMu.Lock()
	now := time.Now()
	again := d.openWarned.IsZero() || now.Sub(d.openWarned) >= d.openWarnEvery
	if again {
		d.openWarned = now
	}
	d.openWarnMu.Unlock()
	if !again {
		return
	}
	d.log.Warn("configs directory is open to other users and holds plaintext configs with their secrets; chmod o-rwx it, or keep only sealed configs there",
		append(fields, zap.String("dir", d.cfg.Dir), zap.String("mode", fi.Mode().Perm().String()))...)
}

// list returns the candidate file names in the directory.
func (d *Dir) list() ([]string, error) {
	all, err := d.dir.Load().Names()
	if err != nil {
		return nil, fmt.Errorf("configs directory %s: %w", d.cfg.Dir, err)
	}
	names := all[:0]
	for _, name := range all {
		if _, _, _, _, ok := d.keyOf(name); ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// keyOf is the key of file name in Dir.bySerial: its serial and kind (see
// keyFor); or, for a config file whose name carries no valid serial, "/"
// and the name, which no serial can equal (so it is reported as invalid,
// with bad saying why, without taking the place of a real serial's
// config). ok is false for names that are not config files at all
// (another extension, editors' temporary files): they are not watched, as
// at start.
func (d *Dir) keyOf(name string) (key, serial, kind string, bad error, ok bool) {
	if ignored(name) {
		return "", "", "", nil, false
	}
	for _, k := range d.kinds { // the longest extension that matches: .cfg.cms before .cms
		if len(name) <= len(k.ext) || !strings.HasSuffix(name, k.ext) {
			continue
		}
		serial, bad = serialOf(name, k.ext)
		if bad != nil {
			return "/" + name, "", k.kind, bad, true
		}
		return keyFor(serial, k.kind), serial, k.kind, nil, true
	}
	return "", "", "", nil, false
}

// inspect stats one file. It returns nil when the file is gone or is not
// a config, and fresh=true when it changed within the settle delay (since
// is the time after which a change counts as fresh; zero takes all).
// Only regular files are configs: a symbolic link is not followed (it
// could name any file sealboot may read: /etc/shadow, a private key, the
// lease journal) but reported invalid, as are FIFOs, directories and
// other special files.
func (d *Dir) inspect(name string, since time.Time) (e *entry, fresh bool) {
	key, serial, kind, bad, ok := d.keyOf(name)
	if !ok {
		return nil, false
	}
	rd := d.dir.Load()
	st, err := rd.Stat(name)
	var nr *regfile.NotRegularError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false
	case bad != nil:
		return &entry{name: name, key: key, kind: kind, problem: bad.Error()}, false
	case err != nil && !errors.As(err, &nr):
		return &entry{name: name, serial: serial, key: key, kind: kind, problem: "unreadable: " + err.Error()}, false
	}
	// ctime: a rewrite that keeps size, mtime and inode still changes it.
	// Freshness stays by mtime: cp -p sets it back only once the content
	// is written, and tools that backdate files work as before.
	e = &entry{name: name, serial: serial, key: key, kind: kind, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino}
	if !since.IsZero() && time.Unix(0, e.mtime).After(since) {
		return e, true
	}
	switch {
	case nr != nil:
		e.problem = nr.Kind + ": configs must be regular files in configs_dir"
	case st.Size == 0:
		e.problem = "empty"
	case st.Size > d.cfg.MaxSize:
		e.problem = fmt.Sprintf("%d bytes, larger than watch.max_size (%d)", st.Size, d.cfg.MaxSize)
	case since.IsZero() && kind == KindPlaintext:
		// The first scan goes by the stat alone for plaintext configs:
		// whether the file is readable by us is learnt when it is first
		// asked for (a failed open marks it changing, and its check then
		// finds it unreadable and says so), and at the catch-up scan once
		// serving. Sealed ones are read now, for their recipients.
	default:
		// Readable by us (effective ids): one syscall, where open and close
		// cost two.
		if err := rd.Readable(name); err != nil {
			e.problem = "unreadable: " + err.Error()
		} else if kind != KindPlaintext {
			d.readRecipients(e)
		}
	}
	return e, false
}

func (d *Dir) hasCert(serial string) bool {
	return d.certs != nil && d.certs.HasCertificate(serial)
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

// Status is one config file as the directory has it.
type Status struct {
	Serial string
	State  string // ready, waiting_for_certificate, invalid
	Reason string // why it is invalid
	Kind   string // KindPlaintext, KindPresealed, KindAppliance
	Bytes  int64
}

// List returns the status of every config file whose name carries a
// serial, in no order: what the first scan found, for whoever keeps
// per-device state from then on from the config.state events.
func (d *Dir) List() []Status {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Status, 0, len(d.bySerial))
	for _, e := range d.bySerial {
		if e.serial != "" {
			out = append(out, Status{Serial: e.serial, State: e.counted, Reason: e.reason, Bytes: e.size, Kind: e.kind})
		}
	}
	return out
}
