package watchdir

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// next returns the next event that is a rescan or names file.
func next(t *testing.T, ch <-chan Event, file string) Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch ended")
			}
			if ev.Rescan || ev.Name == file {
				return ev
			}
		case <-t.Context().Done():
			t.Fatalf("no event for %s", file)
		}
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFollowsReplacedDirectory(t *testing.T) {
	CheckInterval = 10 * time.Millisecond
	base := t.TempDir()
	for _, d := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(base, "current")
	if err := os.Symlink("r1", link); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, link, "test directory", zap.New(core))
	if err != nil {
		t.Fatal(err)
	}

	write(t, filepath.Join(link, "a"))
	if ev := next(t, ch, "a"); ev.Rescan {
		t.Fatalf("first event %+v, want file a", ev)
	}

	// A deploy tool swaps the symlink to another release.
	tmp := filepath.Join(base, "current.new")
	if err := os.Symlink("r2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch, ""); !ev.Rescan {
		t.Fatalf("after the swap: %+v, want a rescan", ev)
	}
	write(t, filepath.Join(base, "r2", "b"))
	if ev := next(t, ch, "b"); ev.Name != "b" {
		t.Fatalf("file in the new directory: %+v", ev)
	}

	// The directory removed and made again.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(base, "r2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(link, 0o700); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch, ""); !ev.Rescan {
		t.Fatalf("after the directory was made again: %+v, want a rescan", ev)
	}
	write(t, filepath.Join(link, "c"))
	next(t, ch, "c")

	if n := logs.FilterMessage("test directory replaced; watching the new one and rescanning").Len(); n != 2 {
		t.Fatalf("%d replacement lines logged, want 2: %v", n, logs.All())
	}
	cancel()
	for range ch { // closed when the watch ends
	}
}

func TestMissingDirectory(t *testing.T) {
	_, err := Watch(t.Context(), filepath.Join(t.TempDir(), "nope"), "test directory", zap.NewNop())
	if err == nil {
		t.Fatal("watching a missing directory: no error")
	}
}
