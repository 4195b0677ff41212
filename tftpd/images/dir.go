package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// entry is one version of one file in the directory.
type entry struct {
	name    string
	id      identity
	problem string // why it is never served; "" when it is a servable file
	sum     string // hex SHA-256 of this version, once hashed (under Dir.mu)
}

// Dir is the watched images directory. It is safe for concurrent use.
type Dir struct {
	cfg     Config
	log     *zap.Logger
	m       *metrics
	ready   chan struct{}
	queue   queue       // versions waiting to be hashed
	recheck chan string // files Open found changed
	dir     atomic.Pointer[regfile.Dir]

	mu      sync.RWMutex
	entries map[string]*entry // by file name; a new version is a new entry
}

// New scans the directory and returns it; the files are hashed once Run
// runs. A missing directory is an error.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Dir, error) {
	if cfg.Settle <= 0 {
		cfg.Settle = defaultSettle
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("images directory %s is not a directory", cfg.Dir)
	}
	d := &Dir{cfg: cfg, log: log, ready: make(chan struct{}), recheck: make(chan string, 256),
		entries: map[string]*entry{}}
	d.queue.wake = make(chan struct{}, 1)
	d.m = newMetrics(reg, d)
	rd, err := openDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	d.dir.Store(rd)
	names, err := d.list()
	if err != nil {
		rd.Close()
		return nil, err
	}
	invalid := 0
	for _, n := range names {
		e, _ := d.inspect(n, time.Time{})
		if e == nil {
			continue
		}
		d.entries[n] = e
		if e.problem != "" {
			invalid++
			d.event(StateInvalid, e)
			continue
		}
		d.queue.push(e)
	}
	log.Info("images directory scanned; hashing", zap.String("dir", cfg.Dir),
		zap.Int("images", len(d.entries)-invalid), zap.Int(StateInvalid, invalid))
	return d, nil
}

// Ready is closed when Run watches the directory. Images become servable
// one by one as they are hashed.
func (d *Dir) Ready() <-chan struct{} { return d.ready }

// Lookup returns what is known of image name: its size and, once this
// version is hashed, its SHA-256 (hex) with ready set. An unknown or
// invalid name gives zeros.
func (d *Dir) Lookup(name string) (size int64, sha256 string, ready bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.entries[name]
	if !ok || e.problem != "" {
		return 0, "", false
	}
	return e.id.size, e.sum, e.sum != ""
}

// Open opens image name for serving, with the description of the opened
// descriptor and the SHA-256 (hex) of its content. Only the version that
// was hashed is opened: anything else is ErrNotReady (not hashed yet, or
// changed since), ErrNotFound or ErrInvalid, with the reason in the error.
func (d *Dir) Open(name string) (*os.File, fs.FileInfo, string, error) {
	d.mu.RLock()
	e, ok := d.entries[name]
	var snap entry
	if ok {
		snap = *e
	}
	d.mu.RUnlock()
	switch {
	case !ok:
		return nil, nil, "", ErrNotFound
	case snap.problem != "":
		return nil, nil, "", fmt.Errorf("%w: %s", ErrInvalid, snap.problem)
	case snap.sum == "":
		return nil, nil, "", fmt.Errorf("%w: not hashed yet", ErrNotReady)
	}
	rf, err := d.open(name)
	if err != nil {
		d.changed(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil, "", fmt.Errorf("%w: removed since it was hashed", ErrNotFound)
		case errors.Is(err, regfile.ErrNotRegular):
			return nil, nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return nil, nil, "", fmt.Errorf("%w: changed since it was hashed: %v", ErrNotReady, err)
	}
	st := rf.Stat
	if identityOf(&st) != snap.id {
		rf.Close()
		d.changed(name)
		return nil, nil, "", fmt.Errorf("%w: changed since it was hashed; the new version is hashed once it has settled", ErrNotReady)
	}
	f, err := rf.OSFile(name)
	if err != nil {
		rf.Close()
		return nil, nil, "", fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	return f, &fileInfo{name: name, st: st}, snap.sum, nil
}

// changed asks Run to look at a file again.
func (d *Dir) changed(name string) {
	select {
	case d.recheck <- name:
	default: // Run is behind; the watch's own events catch up
	}
}

// list returns the names in the directory that may be images.
func (d *Dir) list() ([]string, error) {
	all, err := d.dir.Load().Names()
	if err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	var names []string
	for _, n := range all {
		if !ignored(n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// inspect describes one file without following links. It returns nil
// when the file is gone or ignored, and fresh=true when it changed after
// since (zero: take it whenever it changed).
func (d *Dir) inspect(name string, since time.Time) (e *entry, fresh bool) {
	if ignored(name) {
		return nil, false
	}
	st, err := d.dir.Load().Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	e = &entry{name: name}
	switch {
	case err != nil:
		e.problem = "unreadable: " + err.Error()
		return e, false
	case !validName(name):
		e.problem = fmt.Sprintf("file name %q cannot be asked for over HTTP (letters, digits, '.', '_', '-', '+'; at most %d bytes; no leading dot)", name, maxNameLength)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		e.problem = regfile.Kind(st.Mode) + " (only regular files are served; links are never followed)"
	}
	e.id = identityOf(&st)
	if e.problem != "" {
		return e, false
	}
	if !since.IsZero() && time.Unix(0, e.id.mtime).After(since) {
		return e, true
	}
	if err := d.dir.Load().Readable(name); err != nil {
		e.problem = "unreadable: " + err.Error()
	}
	return e, false
}

// check looks at one file again and acts on a change: a new version is
// queued for hashing, a removal or a problem is logged. It returns true
// when the file changed too recently and must be looked at again after
// the settle delay.
func (d *Dir) check(name string) (again bool) {
	e, fresh := d.inspect(name, time.Now().Add(-d.cfg.Settle))
	if fresh {
		return true
	}
	d.mu.Lock()
	old, had := d.entries[name]
	switch {
	case e == nil && !had:
		d.mu.Unlock()
		return false
	case e == nil:
		delete(d.entries, name)
		d.mu.Unlock()
		d.event(StateRemoved, old)
		return false
	case had && old.id == e.id && old.problem == e.problem:
		d.mu.Unlock()
		return false
	}
	d.entries[name] = e
	d.mu.Unlock()
	if e.problem != "" {
		d.event(StateInvalid, e)
		return false
	}
	if ce := d.log.Check(zap.DebugLevel, "image changed; hashing its new version"); ce != nil {
		ce.Write(zap.String("file", name), zap.Int64("bytes", e.id.size), zap.Bool("was_ready", had && old.sum != ""))
	}
	d.queue.push(e)
	return false
}

// event logs one image.state event.
func (d *Dir) event(state string, e *entry) {
	fields := []zap.Field{
		zap.String("event", "image.state"), zap.String("state", state),
		zap.String("file", e.name), zap.Int64("bytes", e.id.size),
	}
	d.m.events.WithLabelValues(state).Inc()
	switch state {
	case StateInvalid:
		d.log.Warn("image "+state, append(fields, zap.String("reason", e.problem))...)
	case StateReady:
		d.mu.RLock()
		sum := e.sum
		d.mu.RUnlock()
		d.log.Info("image "+state, append(fields, zap.String("sha256", sum))...)
	default:
		d.log.Info("image "+state, fields...)
	}
}

// counts returns the number of images by state, for the gauges.
func (d *Dir) counts() map[string]int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c := map[string]int{}
	for _, e := range d.entries {
		switch {
		case e.problem != "":
			c[StateInvalid]++
		case e.sum != "":
			c[StateReady]++
		default:
			c[stateHashing]++
		}
	}
	return c
}
