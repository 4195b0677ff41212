package configdir

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// certSet is a CertificateChecker tests change.
type certSet struct {
	mu    sync.Mutex
	m     map[string]bool
	certs map[string]*x509.Certificate
}

func (c *certSet) Certificate(s string) (*x509.Certificate, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, ok := c.certs[s]
	return cert, "fp-" + s, ok && c.m[s]
}

func (c *certSet) setCert(s string, cert *x509.Certificate) {
	c.mu.Lock()
	if c.certs == nil {
		c.certs = map[string]*x509.Certificate{}
	}
	c.certs[s], c.m[s] = cert, cert != nil
	c.mu.Unlock()
}

func (c *certSet) HasCertificate(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[s]
}

func (c *certSet) set(s string, v bool) {
	c.mu.Lock()
	c.m[s] = v
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	dir   string
	d     *Dir
	certs *certSet
	logs  *observer.ObservedLogs
}

func newHarness(t *testing.T, settle time.Duration, prepare func(dir string)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), certs: &certSet{m: map[string]bool{}}}
	if err := os.Chmod(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(h.dir)
	}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	d, err := New(Config{Dir: h.dir, Settle: settle, MaxSize: 1024}, h.certs, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

// run starts the watcher and stops it at the end of the test.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Error(err)
		}
	})
	<-h.d.Ready()
}

// writeOld writes a finished file with an old mtime.
func writeOld(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) states(serial string) []string {
	var out []string
	for _, e := range h.logs.FilterField(zap.String("serial", serial)).AllUntimed() {
		out = append(out, e.ContextMap()["state"].(string))
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("never happened: %s", what)
		case <-tick.C:
		}
	}
}

func TestInitialScan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, time.Millisecond, func(dir string) {
		writeOld(t, filepath.Join(dir, "SN1.cfg"), []byte("hostname a\n"))
		writeOld(t, filepath.Join(dir, "SN2.cfg"), []byte("hostname b\n"))
		writeOld(t, filepath.Join(dir, "EMPTY.cfg"), nil)
		writeOld(t, filepath.Join(dir, "BIG.cfg"), make([]byte, 2048))
		writeOld(t, filepath.Join(dir, "bad name.cfg"), []byte("x"))
		writeOld(t, filepath.Join(dir, ".SN3.cfg.swp"), []byte("x"))
		writeOld(t, filepath.Join(dir, "SN4.cfg~"), []byte("x"))
		writeOld(t, filepath.Join(dir, "notes.txt"), []byte("x"))
	})
	data, sum, err := h.d.Config("SN1")
	if err != nil || string(data) != "hostname a\n" || sum != sha256.Sum256(data) {
		t.Fatalf("Config(SN1): %q %v", data, err)
	}
	for serial, want := range map[string]error{"EMPTY": ErrInvalid, "BIG": ErrInvalid, "SN3": ErrNotFound, "SN4": ErrNotFound, "NONE": ErrNotFound} {
		if _, _, err := h.d.Config(serial); !errors.Is(err, want) {
			t.Errorf("Config(%s): %v, want %v", serial, err, want)
		}
	}
	if _, _, err := h.d.Config("NONE"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("ErrNotFound does not match fs.ErrNotExist")
	}
	summary := h.logs.FilterMessage("configs directory scanned").AllUntimed()
	if len(summary) != 1 || summary[0].ContextMap()[StateWaitingForCert] != int64(2) || summary[0].ContextMap()[StateInvalid] != int64(3) {
		t.Fatalf("summary: %+v", summary)
	}
	inv := h.logs.FilterField(zap.String("state", StateInvalid)).AllUntimed()
	reasons := map[string]string{}
	for _, e := range inv {
		reasons[e.ContextMap()["file"].(string)] = e.ContextMap()["reason"].(string)
	}
	want := map[string]string{"EMPTY.cfg": "empty", "BIG.cfg": "2048 bytes, larger than watch.max_size (1024)", "bad name.cfg": `file name "bad name.cfg" is not <serial>.cfg with a serial of letters, digits, '.', '_', '-'`}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Fatalf("invalid reasons:\n got %v\nwant %v", reasons, want)
	}
	list := map[string]Status{}
	for _, st := range h.d.List() {
		list[st.Serial] = st
	}
	wantList := map[string]Status{
		"SN1":   {Serial: "SN1", State: StateWaitingForCert, Bytes: 11, Kind: KindPlaintext},
		"SN2":   {Serial: "SN2", State: StateWaitingForCert, Bytes: 11, Kind: KindPlaintext},
		"EMPTY": {Serial: "EMPTY", State: StateInvalid, Reason: "empty", Kind: KindPlaintext},
		"BIG":   {Serial: "BIG", State: StateInvalid, Reason: "2048 bytes, larger than watch.max_size (1024)", Bytes: 2048, Kind: KindPlaintext},
	}
	if fmt.Sprint(list) != fmt.Sprint(wantList) {
		t.Fatalf("List:\n got %v\nwant %v", list, wantList)
	}
}

func TestWatchStates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 20*time.Millisecond, nil)
	h.run()
	p := filepath.Join(h.dir, "SN1.cfg")
	if err := os.WriteFile(p, []byte("v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new config logged as waiting", func() bool { return len(h.states("SN1")) == 1 })
	h.certs.set("SN1", true)
	h.d.CertificateChanged("SN1")
	h.d.CertificateChanged("SN1") // no change: no second event
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "emptied config invalid", func() bool { return len(h.states("SN1")) == 3 })
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "removed config logged", func() bool { return len(h.states("SN1")) == 4 })
	got := fmt.Sprint(h.states("SN1"))
	if want := fmt.Sprint([]string{StateWaitingForCert, StateReady, StateInvalid, StateRemoved}); got != want {
		t.Fatalf("states %s, want %s", got, want)
	}
}

// A file still being written is never served: its content is not handed
// out until it has been left alone for the settle delay, and a file
// rewritten after it settled is "not ready" until it settles again.
func TestHalfWrittenNeverServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, time.Hour, nil) // nothing settles during this test
	h.run()
	p := filepath.Join(h.dir, "SN5.cfg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("radius key part")
	if err := h.d.Rescan(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.d.Config("SN5"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half-written file served: %v", err)
	}
	f.Close()

	// A settled file that is then modified in place.
	h2 := newHarness(t, time.Hour, func(dir string) { writeOld(t, filepath.Join(dir, "SN6.cfg"), []byte("version one\n")) })
	if _, _, err := h2.d.Config("SN6"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h2.dir, "SN6.cfg"), []byte("version two, half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, _, err := h2.d.Config("SN6"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("file rewritten after settling served as %q, %v", data, err)
	}
}

func TestRenamedIntoPlaceIsServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 10*time.Millisecond, nil)
	h.run()
	tmp := filepath.Join(h.dir, ".SN7.cfg.tmp")
	if err := os.WriteFile(tmp, []byte("complete\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, "SN7.cfg")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "renamed config served", func() bool {
		data, _, err := h.d.Config("SN7")
		return err == nil && string(data) == "complete\n"
	})
}

// A directory open to other users is warned about when it holds
// plaintext configs; sealed configs only (or none) may be world-readable.
func TestWarnsOnOpenDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)
	writeOld(t, filepath.Join(dir, "SN1.enc"), []byte("not even CMS"))
	core, logs := observer.New(zap.DebugLevel)
	if _, err := New(Config{Dir: dir}, nil, zap.New(core), nil); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("open to other users").Len(); n != 0 {
		t.Fatalf("%d warnings for an open directory with no plaintext config", n)
	}
	writeOld(t, filepath.Join(dir, "SN2.cfg"), []byte("secret\n"))
	if _, err := New(Config{Dir: dir}, nil, zap.New(core), nil); err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessageSnippet("open to other users").Len() != 1 {
		t.Fatal("no warning for a world-readable configs directory holding a plaintext config")
	}
	if _, err := New(Config{Dir: filepath.Join(dir, "missing")}, nil, zap.NewNop(), nil); err == nil {
		t.Fatal("missing directory accepted")
	}
}

// BenchmarkScan measures the first scan of 10,000 config files.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	const n = 10000
	old := time.Now().Add(-time.Hour)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("SN%06d.cfg", i))
		if err := os.WriteFile(p, []byte("hostname x\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		_ = os.Chtimes(p, old, old)
	}
	var heap uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := New(Config{Dir: dir}, nil, zap.NewNop(), nil)
		if err != nil || d.Len() != n {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(d)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/file")
	b.ReportMetric(float64(heap)/n, "heap-bytes/file")
}

// Sum answers from the settled version without reading it again, and says
// ErrNotReady as soon as the file changes.
func TestSum(t *testing.T) {
	t.Parallel()
	h := newHarness(t, time.Hour, func(dir string) { writeOld(t, filepath.Join(dir, "SN9.cfg"), []byte("v1\n")) })
	want := sha256.Sum256([]byte("v1\n"))
	for range 2 { // first from the file, then memoised
		if sum, err := h.d.Sum("SN9"); err != nil || sum != want {
			t.Fatalf("Sum: %x %v", sum, err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "SN9.cfg"), []byte("v2, half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.Sum("SN9"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("changed file: %v", err)
	}
	if _, err := h.d.Sum("NONE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

// A deploy tool swaps the directory's symlink to a new release: the new
// release's configs are served without a SIGHUP.
func TestDirectoryReplacedByDeploy(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	r1, r2 := filepath.Join(base, "r1"), filepath.Join(base, "r2")
	for _, d := range []string{r1, r2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeOld(t, filepath.Join(r1, "SN1.cfg"), []byte("one"))
	link := filepath.Join(base, "configs")
	if err := os.Symlink("r1", link); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: link, certs: &certSet{m: map[string]bool{"SN1": true, "SN2": true}}}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	d, err := New(Config{Dir: link, Settle: time.Millisecond, MaxSize: 1024}, h.certs, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	h.run()

	writeOld(t, filepath.Join(r2, "SN1.cfg"), []byte("one, revised"))
	writeOld(t, filepath.Join(r2, "SN2.cfg"), []byte("two"))
	if err := os.Symlink("r2", link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SN2 from the new release", func() bool {
		data, _, err := d.Config("SN2")
		return err == nil && string(data) == "two"
	})
	eventually(t, "SN1 revised by the new release", func() bool {
		data, _, err := d.Config("SN1")
		return err == nil && string(data) == "one, revised"
	})
	if got := h.states("SN2"); len(got) != 1 || got[0] != StateReady {
		t.Fatalf("SN2 states %v, want one ready", got)
	}
}

// Files that are not configs do not take the place of a serial's config:
// a stray file named like the serial without the extension, or a config
// file whose name carries no valid serial.
func TestStrayFilesDoNotDisplaceConfigs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 10*time.Millisecond, func(dir string) { writeOld(t, filepath.Join(dir, "SN1.cfg"), []byte("real\n")) })
	h.run()
	for _, name := range []string{"SN1", "README.txt", "sedXy12ab", "bad name.cfg"} {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "bad name.cfg reported invalid", func() bool {
		return h.logs.FilterField(zap.String("file", "bad name.cfg")).FilterField(zap.String("state", StateInvalid)).Len() == 1
	})
	serve := func(when string) {
		t.Helper()
		if data, _, err := h.d.Config("SN1"); err != nil || string(data) != "real\n" {
			t.Fatalf("%s: Config(SN1) = %q, %v", when, data, err)
		}
	}
	serve("with stray files")
	for _, name := range []string{"SN1", "README.txt", "sedXy12ab", "bad name.cfg"} {
		if err := os.Remove(filepath.Join(h.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "bad name.cfg reported removed", func() bool {
		return h.logs.FilterField(zap.String("file", "bad name.cfg")).FilterField(zap.String("state", StateRemoved)).Len() == 1
	})
	serve("after the stray files went")
	for _, name := range []string{"SN1", "README.txt", "sedXy12ab"} {
		if n := h.logs.FilterField(zap.String("file", name)).Len(); n != 0 {
			t.Errorf("%d events for %s, which is not a config file", n, name)
		}
	}
	h.d.mu.RLock()
	counts := fmt.Sprint(h.d.counts[StateReady], h.d.counts[StateWaitingForCert], h.d.counts[StateInvalid])
	h.d.mu.RUnlock()
	if want := fmt.Sprint(0, 1, 0); counts != want {
		t.Fatalf("gauges ready, waiting, invalid = %s, want %s", counts, want)
	}
}

// A device that asks again and again while a new version settles gets it
// once the settle delay has passed since the last write, however often it
// asks meanwhile.
func TestAskingDoesNotPostponeSettling(t *testing.T) {
	t.Parallel()
	const settle = 300 * time.Millisecond
	h := newHarness(t, settle, func(dir string) { writeOld(t, filepath.Join(dir, "SN2.cfg"), []byte("v1\n")) })
	h.run()
	if err := os.WriteFile(filepath.Join(h.dir, "SN2.cfg"), []byte("v2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Asking every 5 ms, 60 times within each settle delay: under the old
	// behaviour each ask put the deadline back and v2 was never taken.
	eventually(t, "v2 served while the device keeps asking", func() bool {
		data, _, err := h.d.Config("SN2")
		return err == nil && string(data) == "v2\n"
	})
}

// A config rewritten in place with the same length, keeping its mtime and
// inode (cp -p from a tree with fixed mtimes) is a new version: its ctime
// changed. Neither the old content nor the old sum is served.
func TestSameSizeMtimeAndInodeIsStillNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 10*time.Millisecond, func(dir string) { writeOld(t, filepath.Join(dir, "SN3.cfg"), []byte("secret AAAA\n")) })
	h.run()
	p := filepath.Join(h.dir, "SN3.cfg")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.Sum("SN3"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0) // same inode
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("secret BBBB\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil { // mtime as before
		t.Fatal(err)
	}
	if sum, err := h.d.Sum("SN3"); err == nil && sum == sha256.Sum256([]byte("secret AAAA\n")) {
		t.Fatal("the old version's sum after an in-place rewrite")
	}
	eventually(t, "the new version served", func() bool {
		data, _, err := h.d.Config("SN3")
		return err == nil && string(data) == "secret BBBB\n"
	})
}

// TestOpenDirectoryWarningIsNotPerFile: a deploy that drops many plaintext
// configs into a directory open to other users gets the warning once, not
// once per file (100,000 files gave 100,000 identical lines, and the
// journal's rate limit then dropped the config.state events with them).
func TestOpenDirectoryWarningIsNotPerFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 10*time.Millisecond, nil)
	if err := os.Chmod(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.d.openWarnEvery = time.Hour // none again during the test
	h.run()
	const n = 50
	for i := range n {
		writeOld(t, filepath.Join(h.dir, fmt.Sprintf("SN%d.cfg", i)), []byte("secret\n"))
	}
	eventually(t, "every config taken", func() bool {
		return h.logs.FilterMessageSnippet("config waiting_for_certificate").Len() == n
	})
	if got := h.logs.FilterMessageSnippet("open to other users").Len(); got != 1 {
		t.Fatalf("%d warnings about the open directory for %d configs, want 1", got, n)
	}
}
