package keystore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// cacheDir is a keys directory of three pinned certificates and a scan
// cache written by the store that pinned them.
type cacheDir struct {
	t   *testing.T
	dir string
	dev map[string]*DeviceIdentity
}

func newCacheDir(t *testing.T) *cacheDir {
	t.Helper()
	h := newHarness(t, Options{ScanCache: true})
	c := &cacheDir{t: t, dir: h.dir, dev: map[string]*DeviceIdentity{}}
	for _, serial := range []string{"SN1", "SN2", "SN3"} {
		c.dev[serial] = device(t, serial, P256)
		h.write(serial+".crt", c.dev[serial].CertPEM)
	}
	h.rescan()
	if h.store.Len() != 3 {
		t.Fatalf("want 3 certificates, have %v", h.store.List())
	}
	if gen := h.store.saveCache(0); gen == 0 {
		t.Fatal("scan cache not written")
	}
	return c
}

// open opens a new store on the directory, as a restart does.
func (c *cacheDir) open(opts Options) (*Store, *observer.ObservedLogs) {
	c.t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	opts.Dir, opts.ScanCache = c.dir, true
	if opts.Settle == 0 {
		opts.Settle = time.Millisecond
	}
	st, err := Open(opts, zap.New(core), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return st, logs
}

// fromCache lists the files whose records the store took from the cache.
func fromCache(st *Store) map[string]bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := map[string]bool{}
	for name, f := range st.files {
		if f.fromCache {
			out[name] = true
		}
	}
	return out
}

func (c *cacheDir) wantFP(st *Store, serial string) {
	c.t.Helper()
	cert, fp, ok := st.Certificate(serial)
	want := SPKIFingerprint(c.dev[serial].Cert).String()
	if !ok || fp != want || SPKIFingerprint(cert).String() != want {
		c.t.Fatalf("%s: got %s, %v; want %s", serial, fp, ok, want)
	}
}

func TestScanCacheSkipsUnchangedCertificates(t *testing.T) {
	t.Parallel()
	c := newCacheDir(t)
	st, _ := c.open(Options{})
	if got := fromCache(st); len(got) != 3 {
		t.Fatalf("want every file from the cache, got %v", got)
	}
	for _, serial := range []string{"SN1", "SN2", "SN3"} {
		c.wantFP(st, serial) // read from the file on first use
	}
	// Read-only stores (the keys command) use the cache but never write it.
	ro, _ := c.open(Options{ReadOnly: true})
	if len(fromCache(ro)) != 3 || ro.Len() != 3 {
		t.Fatalf("read-only store: %v", ro.List())
	}
}

func TestScanCacheChangedFileIsParsed(t *testing.T) {
	t.Parallel()
	c := newCacheDir(t)
	// SN1's file rewritten with the same bytes (new mtime and ctime);
	// SN2's replaced by another key (pinned: refused); SN3's removed.
	old := time.Now().Add(-time.Minute)
	p1 := filepath.Join(c.dir, "SN1.crt")
	if err := os.WriteFile(p1, c.dev["SN1"].CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(p1, old.Add(time.Second), old.Add(time.Second))
	other := device(t, "SN2", P256)
	p2 := filepath.Join(c.dir, "SN2.crt")
	if err := os.WriteFile(p2, other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(p2, old, old)
	if err := os.Remove(filepath.Join(c.dir, "SN3.crt")); err != nil {
		t.Fatal(err)
	}
	st, logs := c.open(Options{})
	if got := fromCache(st); len(got) != 0 {
		t.Fatalf("changed files taken from the cache: %v", got)
	}
	c.wantFP(st, "SN1")
	if st.HasCertificate("SN2") || st.HasCertificate("SN3") {
		t.Fatalf("want SN2 refused and SN3 gone: %v", st.List())
	}
	if ps := st.Problems(); len(ps) != 1 || ps[0].File != "SN2.crt" || ps[0].State != "refused" {
		t.Fatalf("problems: %+v", ps)
	}
	_ = logs
}

func TestScanCacheChangedPinIsNotTrusted(t *testing.T) {
	t.Parallel()
	c := newCacheDir(t)
	// SN1 pinned to another key since the cache was written (as `keys
	// import --replace` does): its file's cached record names a key that
	// is no longer pinned, so the file is parsed, and refused.
	other := device(t, "SN1", P256)
	if _, err := updatePins(c.dir, func(p *pins) error {
		p.set("SN1", SPKIFingerprint(other.Cert))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, _ := c.open(Options{})
	got := fromCache(st)
	if got["SN1.crt"] || !got["SN2.crt"] || !got["SN3.crt"] {
		t.Fatalf("from cache: %v", got)
	}
	if st.HasCertificate("SN1") {
		t.Fatal("certificate with a key that is no longer pinned is served")
	}
	c.wantFP(st, "SN2")
}

func TestScanCacheCorruptIsIgnoredAndRebuilt(t *testing.T) {
	t.Parallel()
	path := func(c *cacheDir) string { return filepath.Join(c.dir, scanCacheFile) }
	for _, tc := range []struct {
		name string
		hurt func(t *testing.T, c *cacheDir)
	}{
		{"truncated", func(t *testing.T, c *cacheDir) {
			data, _ := os.ReadFile(path(c))
			_ = os.WriteFile(path(c), data[:len(data)/2], 0o600)
		}},
		{"byte flipped", func(t *testing.T, c *cacheDir) {
			data, _ := os.ReadFile(path(c))
			data[len(scanCacheMagic)+10] ^= 0x40
			_ = os.WriteFile(path(c), data, 0o600)
		}},
		{"garbage", func(t *testing.T, c *cacheDir) { _ = os.WriteFile(path(c), []byte("not a cache\n"), 0o600) }},
		{"empty", func(t *testing.T, c *cacheDir) { _ = os.WriteFile(path(c), nil, 0o600) }},
		{"symlink", func(t *testing.T, c *cacheDir) {
			_ = os.Rename(path(c), filepath.Join(t.TempDir(), "elsewhere"))
			_ = os.Symlink("/etc/passwd", path(c))
		}},
		{"other options", func(t *testing.T, c *cacheDir) {
			dir, _ := regfile.OpenDir(c.dir)
			defer dir.Close()
			dev, ino := dir.Identity()
			st, _ := c.open(Options{ReadOnly: true})
			st.mu.RLock()
			data := encodeScanCache(cacheHeader{dirDev: dev, dirIno: ino, allowSmallRSA: true}, st.files)
			st.mu.RUnlock()
			_ = os.WriteFile(path(c), data, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCacheDir(t)
			tc.hurt(t, c)
			st, logs := c.open(Options{})
			if got := fromCache(st); len(got) != 0 {
				t.Fatalf("records taken from a damaged cache: %v", got)
			}
			if logs.FilterMessageSnippet("key scan cache ignored").Len() != 1 {
				t.Errorf("want the cache's refusal logged once, got %v", logs.AllUntimed())
			}
			for _, serial := range []string{"SN1", "SN2", "SN3"} {
				c.wantFP(st, serial)
			}
			// Rebuilt: written again by the store, and used by the next.
			_ = os.Remove(path(c))
			if gen := st.saveCache(0); gen == 0 {
				t.Fatal("cache not rebuilt")
			}
			next, _ := c.open(Options{})
			if len(fromCache(next)) != 3 {
				t.Fatalf("rebuilt cache not used: %v", fromCache(next))
			}
		})
	}
}

// A forged cache (whoever can write keys_dir can write one that decodes)
// claims SN1's file holds SN2's pinned key. The key sealed to still comes
// from the file and must match: SN2 is refused, not given SN1's key, and
// the next scan parses every file again.
func TestScanCacheForgedEntryCannotSwapKeys(t *testing.T) {
	t.Parallel()
	c := newCacheDir(t)
	dir, err := regfile.OpenDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	data, _, err := dir.ReadFile(scanCacheFile, maxScanCache)
	if err != nil {
		t.Fatal(err)
	}
	h := cacheHeader{allowSmallRSA: false}
	h.dirDev, h.dirIno = dir.Identity()
	recs, err := decodeScanCache(data, h)
	if err != nil {
		t.Fatal(err)
	}
	recs["SN1.crt"].fp = SPKIFingerprint(c.dev["SN2"].Cert)
	delete(recs, "SN2.crt") // else SN2's own file wins the serial
	if err := os.WriteFile(filepath.Join(c.dir, scanCacheFile), encodeScanCache(h, recs), 0o600); err != nil {
		t.Fatal(err)
	}
	st, logs := c.open(Options{})
	if _, _, ok := st.Certificate("SN2"); ok {
		t.Fatal("a forged cache entry gave SN2 a certificate from another file")
	}
	if logs.FilterMessageSnippet("no longer holds the certificate").Len() != 1 {
		t.Errorf("the mismatch is not logged: %v", logs.AllUntimed())
	}
	if _, err := os.Stat(filepath.Join(c.dir, scanCacheFile)); !os.IsNotExist(err) {
		t.Error("the cache that lied was kept")
	}
	if err := st.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got := fromCache(st); len(got) != 0 {
		t.Fatalf("records of a distrusted cache reused: %v", got)
	}
	for _, serial := range []string{"SN1", "SN2", "SN3"} {
		c.wantFP(st, serial)
	}
}

func TestScanCacheRoundTrip(t *testing.T) {
	t.Parallel()
	f := &fileRec{name: "a.crt", ino: 7, size: 700, mtime: time.Unix(1, 2), ctime: time.Unix(3, 4),
		subject: "SN1", subjectProblem: strings.Repeat("x", 3), keyType: "P-256"}
	f.fp[0] = 1
	h := cacheHeader{dirDev: 1, dirIno: 2}
	got, err := decodeScanCache(encodeScanCache(h, map[string]*fileRec{"a.crt": f, "bad.crt": {name: "bad.crt", problem: "x"}}), h)
	if err != nil {
		t.Fatal(err)
	}
	g := got["a.crt"]
	if len(got) != 1 || g == nil || g.ino != 7 || g.size != 700 || !g.mtime.Equal(f.mtime) || !g.ctime.Equal(f.ctime) ||
		g.fp != f.fp || g.subject != "SN1" || g.subjectProblem != "xxx" || g.keyType != "P-256" || !g.fromCache {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := decodeScanCache(encodeScanCache(h, nil), cacheHeader{dirDev: 1, dirIno: 3}); err == nil {
		t.Fatal("a cache of another directory decoded")
	}
}

func FuzzDecodeScanCache(f *testing.F) {
	h := cacheHeader{dirDev: 1, dirIno: 2}
	rec := &fileRec{name: "a.crt", ino: 7, size: 700, mtime: time.Unix(1, 2), ctime: time.Unix(3, 4), subject: "SN1", keyType: "P-256"}
	rec.fp[0] = 1
	f.Add(encodeScanCache(h, map[string]*fileRec{"a.crt": rec}))
	f.Add([]byte(scanCacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeScanCache(data, h) // must not panic
	})
}

// Run writes the cache once serving, does not rescan because of its own
// writes, and the next store takes every unchanged file from it.
func TestRunWritesScanCache(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{ScanCache: true, Settle: 20 * time.Millisecond})
	for _, serial := range []string{"SN1", "SN2"} {
		h.write(serial+".crt", device(t, serial, P256).CertPEM)
	}
	h.rescan()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.store.Run(ctx) }()
	path := filepath.Join(h.dir, scanCacheFile)
	eventually(t, "scan cache written", func() bool { _, err := os.Stat(path); return err == nil })
	first, _ := os.Stat(path)
	h.store.mu.RLock()
	gen := h.store.generation
	h.store.mu.RUnlock()
	time.Sleep(100 * time.Millisecond) // five settle delays: a rescan loop would show
	h.store.mu.RLock()
	if h.store.generation != gen {
		t.Errorf("the store swapped again after writing its cache: generation %d → %d", gen, h.store.generation)
	}
	h.store.mu.RUnlock()
	if again, _ := os.Stat(path); !again.ModTime().Equal(first.ModTime()) {
		t.Error("the cache was written again with nothing changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := Open(Options{Dir: h.dir, ScanCache: true, Settle: time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fromCache(st); len(got) != 2 || st.Len() != 2 {
		t.Fatalf("from cache: %v; certificates %v", got, st.List())
	}
}

// A certificate file replaced by another key after the scan (before the
// watch's rescan) never gives that key: the serial is refused at once and
// the directory parsed again, which then refuses the file (pinned).
func TestCertificateReplacedAfterScanIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Settle: 20 * time.Millisecond})
	h.write("SN1.crt", device(t, "SN1", P256).CertPEM)
	h.rescan()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.store.Run(ctx) }()
	<-h.store.Ready()
	// In place (same inode), as an editor or `cp` over it would.
	f, err := os.OpenFile(filepath.Join(h.dir, "SN1.crt"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(device(t, "SN1", P256).CertPEM); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, ok := h.store.Certificate("SN1"); ok {
		t.Fatal("a certificate with another key than the pinned one was given")
	}
	eventually(t, "the file refused after the rescan", func() bool {
		ps := h.store.Problems()
		return !h.store.HasCertificate("SN1") && len(ps) == 1 && ps[0].State == "refused"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
