package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type fixture struct {
	t    *testing.T
	dir  string
	d    *Dir
	logs *observer.ObservedLogs
	reg  *prometheus.Registry
}

// newFixture writes files, opens the directory, and runs it unless
// paused (then nothing is hashed).
func newFixture(t *testing.T, files map[string]string, run bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obs, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	d, err := New(Config{Dir: dir, Settle: 20 * time.Millisecond}, zap.New(obs), reg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, d: d, logs: logs, reg: reg}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		<-d.Ready()
	}
	return f
}

// waitEvent waits for the n-th image.state event (from 1) with state for file.
func (f *fixture) waitEvent(state, file string, n int) map[string]any {
	f.t.Helper()
	for {
		got := 0
		for _, e := range f.logs.FilterField(zap.String("event", "image.state")).All() {
			m := e.ContextMap()
			if m["state"] == state && m["file"] == file {
				if got++; got == n {
					return m
				}
			}
		}
		select {
		case <-f.t.Context().Done():
			f.t.Fatalf("no %d-th %s event for %s; log: %v", n, state, file, f.logs.All())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestHashedOnceAndLookedUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"junos-21.4R3.tgz": "image one", "eos+x.swi": "image two", ".hidden": "x", "partial.part": "x"}, true)
	for name, content := range map[string]string{"junos-21.4R3.tgz": "image one", "eos+x.swi": "image two"} {
		ev := f.waitEvent(StateReady, name, 1)
		if ev["sha256"] != sum(content) || ev["bytes"] != int64(len(content)) {
			t.Errorf("%s: event %v", name, ev)
		}
		size, s, ready := f.d.Lookup(name)
		if size != int64(len(content)) || s != sum(content) || !ready {
			t.Errorf("%s: Lookup = %d %s %v", name, size, s, ready)
		}
	}
	for _, name := range []string{".hidden", "partial.part", "missing.bin"} {
		if _, _, ready := f.d.Lookup(name); ready {
			t.Errorf("%s is ready", name)
		}
		if _, _, _, err := f.d.Open(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%s): %v", name, err)
		}
	}
	// Opening and rescanning do not hash again.
	for range 3 {
		file, _, _, err := f.d.Open("eos+x.swi")
		if err != nil {
			t.Fatal(err)
		}
		file.Close()
		if err := f.d.Rescan(); err != nil {
			t.Fatal(err)
		}
	}
	if v := testutil.ToFloat64(f.d.m.hashed); v != float64(len("image one")+len("image two")) {
		t.Errorf("hashed %v bytes", v)
	}
}

func TestInvalidFilesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"ok.bin": "fine"}, false)
	secret := filepath.Join(t.TempDir(), "shadow")
	_ = os.WriteFile(secret, []byte("root:secret"), 0o600)
	must(t, os.Symlink(secret, filepath.Join(f.dir, "link.bin")))
	must(t, os.Mkdir(filepath.Join(f.dir, "sub"), 0o755))
	must(t, syscall.Mkfifo(filepath.Join(f.dir, "fifo.bin"), 0o644))
	must(t, os.WriteFile(filepath.Join(f.dir, "sp ace.bin"), []byte("x"), 0o644))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.d.Run(ctx)
	for name, reason := range map[string]string{
		"link.bin": "symbolic link", "sub": "a directory", "fifo.bin": "(FIFO)", "sp ace.bin": "cannot be asked for over HTTP",
	} {
		ev := f.waitEvent(StateInvalid, name, 1)
		if r, _ := ev["reason"].(string); !contains(r, reason) {
			t.Errorf("%s: reason %q", name, r)
		}
		if _, _, _, err := f.d.Open(name); !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s): %v", name, err)
		}
	}
	f.waitEvent(StateReady, "ok.bin", 1)
	// A hashed file replaced by a symbolic link to a secret is refused,
	// at once on open and then by the watch.
	must(t, os.Remove(filepath.Join(f.dir, "ok.bin")))
	must(t, os.Symlink(secret, filepath.Join(f.dir, "ok.bin")))
	if file, _, _, err := f.d.Open("ok.bin"); err == nil {
		b, _ := io.ReadAll(file)
		t.Fatalf("served %q through a symbolic link", b)
	}
	f.waitEvent(StateInvalid, "ok.bin", 1)
}

// Open serves only the version that was hashed: a file not hashed yet,
// or rewritten after hashing (even to the same size and mtime), is not
// served until its new version is hashed.
func TestOpenOnlyTheHashedVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"os.bin": "version-1"}, false)
	if _, _, _, err := f.d.Open("os.bin"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Open before hashing: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.d.Run(ctx)
	f.waitEvent(StateReady, "os.bin", 1)
	path := filepath.Join(f.dir, "os.bin")
	fi, _ := os.Stat(path)
	// Same size, mtime set back: only the change time tells.
	must(t, os.WriteFile(path, []byte("version-2"), 0o644))
	must(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
	if file, _, s, err := f.d.Open("os.bin"); !errors.Is(err, ErrNotReady) {
		b, _ := io.ReadAll(file)
		t.Fatalf("Open after a rewrite: %q (sha256 %s), %v", b, s, err)
	}
	ev := f.waitEvent(StateReady, "os.bin", 2)
	if ev["sha256"] != sum("version-2") {
		t.Fatalf("re-hashed as %v", ev["sha256"])
	}
	file, info, s, err := f.d.Open("os.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b, _ := io.ReadAll(file)
	if string(b) != "version-2" || s != sum("version-2") || info.Size() != 9 {
		t.Fatalf("served %q, %s, %d", b, s, info.Size())
	}
	must(t, os.Remove(path))
	f.waitEvent(StateRemoved, "os.bin", 1)
	if _, _, ready := f.d.Lookup("os.bin"); ready {
		t.Fatal("removed image still ready")
	}
}

// Many images are hashed by a bounded number of workers, each once.
func TestManyImages(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for i := range 40 {
		files["img"+string(rune('a'+i%26))+string(rune('a'+i/26))+".bin"] = string(make([]byte, 1000+i))
	}
	f := newFixture(t, files, true)
	var wg sync.WaitGroup
	for name := range files {
		wg.Go(func() { f.waitEvent(StateReady, name, 1) })
	}
	wg.Wait()
	if n := testutil.ToFloat64(f.d.m.events.WithLabelValues(StateReady)); n != 40 {
		t.Fatalf("%v ready events for 40 images", n)
	}
	if v := testutil.CollectAndCount(f.reg, "sealboot_images"); v != 3 {
		t.Fatalf("%d image gauges", v)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// images_dir may be a symlink to a release: when it is swapped, the new
// release's images are hashed and the old ones removed.
func TestReleaseSwapped(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for rel, name := range map[string]string{"rel1": "a.bin", "rel2": "b.bin"} {
		must(t, os.Mkdir(filepath.Join(root, rel), 0o755))
		must(t, os.WriteFile(filepath.Join(root, rel, name), []byte(rel), 0o644))
	}
	cur := filepath.Join(root, "current")
	must(t, os.Symlink("rel1", cur))
	obs, logs := observer.New(zap.DebugLevel)
	d, err := New(Config{Dir: cur, Settle: 10 * time.Millisecond}, zap.New(obs), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: cur, d: d, logs: logs}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx)
	f.waitEvent(StateReady, "a.bin", 1)
	must(t, os.Symlink("rel2", cur+".new"))
	must(t, os.Rename(cur+".new", cur))
	if ev := f.waitEvent(StateReady, "b.bin", 1); ev["sha256"] != sum("rel2") {
		t.Fatalf("b.bin: %v", ev)
	}
	f.waitEvent(StateRemoved, "a.bin", 1)
	file, _, _, err := d.Open("b.bin")
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
}
