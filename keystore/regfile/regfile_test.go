package regfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// layout makes a directory holding one entry of every kind, and a secret
// outside it.
func layout(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "dir")
	must(t, os.Mkdir(dir, 0o700))
	secret := filepath.Join(root, "secret")
	must(t, os.WriteFile(secret, []byte("outside secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "plain"), []byte("plain\n"), 0o600))
	must(t, os.Link(filepath.Join(dir, "plain"), filepath.Join(dir, "hardlink")))
	must(t, os.Symlink(secret, filepath.Join(dir, "outside")))
	must(t, os.Symlink("plain", filepath.Join(dir, "inside")))
	must(t, os.Symlink("missing", filepath.Join(dir, "dangling")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o700))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "socket"), Net: "unix"})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAllButRegularFiles(t *testing.T) {
	t.Parallel()
	dir := layout(t)
	d, err := OpenDir(dir)
	must(t, err)
	t.Cleanup(func() { d.Close() })
	tests := []struct {
		name, entry, kind string // kind "" = served
	}{
		{"regular file", "plain", ""},
		{"hard link", "hardlink", ""},
		{"symlink to a file outside", "outside", "a symbolic link"},
		{"symlink to a file inside", "inside", "a symbolic link"},
		{"dangling symlink", "dangling", "a symbolic link"},
		{"FIFO", "fifo", "a named pipe (FIFO)"},
		{"directory", "subdir", "a directory"},
		{"socket", "socket", "a socket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, _, err := d.ReadFile(tc.entry, 1<<20)
			st, serr := d.Stat(tc.entry)
			if tc.kind == "" {
				if err != nil || string(data) != "plain\n" || serr != nil || st.Size != 6 {
					t.Fatalf("ReadFile = %q, %v; Stat = %v", data, err, serr)
				}
				return
			}
			for what, err := range map[string]error{"ReadFile": err, "Stat": serr} {
				var nr *NotRegularError
				if !errors.As(err, &nr) || nr.Kind != tc.kind || nr.Name != tc.entry || !errors.Is(err, ErrNotRegular) {
					t.Errorf("%s: %v, want %s is %s", what, err, tc.entry, tc.kind)
				}
			}
			if data != nil {
				t.Errorf("read %q", data)
			}
		})
	}
}

func TestNamesAndBadNames(t *testing.T) {
	t.Parallel()
	dir := layout(t)
	d, err := OpenDir(dir)
	must(t, err)
	names, err := d.Names()
	must(t, err)
	slices.Sort(names)
	want := []string{"dangling", "fifo", "hardlink", "inside", "outside", "plain", "socket", "subdir"}
	if !slices.Equal(names, want) {
		t.Errorf("Names = %v, want %v", names, want)
	}
	for _, name := range []string{"", ".", "..", "../dir/plain", "subdir/x", "/etc/passwd"} {
		if _, err := d.Open(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Open(%q) = %v, want ErrBadName", name, err)
		}
		if _, err := d.Lstat(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Lstat(%q) = %v, want ErrBadName", name, err)
		}
	}
	if _, err := d.Open("missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want not exist", err)
	}
	must(t, d.Close())
	if _, err := d.Open("plain"); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close = %v", err)
	}
	if _, err := d.Names(); !errors.Is(err, ErrClosed) {
		t.Errorf("Names after Close = %v", err)
	}
}

// The directory itself may be a symlink (a release swapped in); Same
// tells when the path moves on to another directory.
func TestDirectoryThroughASymlink(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, r := range []string{"r1", "r2"} {
		must(t, os.Mkdir(filepath.Join(root, r), 0o700))
		must(t, os.WriteFile(filepath.Join(root, r, "f"), []byte(r), 0o600))
	}
	link := filepath.Join(root, "current")
	must(t, os.Symlink("r1", link))
	d, err := OpenDir(link)
	must(t, err)
	defer d.Close()
	if data, _, err := d.ReadFile("f", 100); err != nil || string(data) != "r1" {
		t.Fatalf("through the link: %q %v", data, err)
	}
	if !d.Same(link) {
		t.Error("Same before the swap")
	}
	must(t, os.Symlink("r2", link+".new"))
	must(t, os.Rename(link+".new", link))
	if d.Same(link) {
		t.Error("Same after the swap")
	}
	if data, _, err := d.ReadFile("f", 100); err != nil || string(data) != "r1" {
		t.Fatalf("the open directory is still r1: %q %v", data, err)
	}
}

func TestReadFileLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "big"), make([]byte, 100), 0o600))
	d, err := OpenDir(dir)
	must(t, err)
	defer d.Close()
	if _, _, err := d.ReadFile("big", 99); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile over the limit = %v", err)
	}
	if data, _, err := d.ReadFile("big", 100); err != nil || len(data) != 100 {
		t.Errorf("ReadFile at the limit = %d bytes, %v", len(data), err)
	}
}

// OSFile hands over the descriptor: blocking, readable, closed once.
func TestOSFile(t *testing.T) {
	t.Parallel()
	d, err := OpenDir(layout(t))
	must(t, err)
	defer d.Close()
	f, err := d.Open("plain")
	must(t, err)
	of, err := f.OSFile("plain")
	must(t, err)
	defer of.Close()
	b := make([]byte, 16)
	if n, err := of.Read(b); err != nil || string(b[:n]) != "plain\n" {
		t.Fatalf("read %q %v", b[:n], err)
	}
	flags, err := unix.FcntlInt(of.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("flags %#x %v", flags, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("the handed-over File closed its old descriptor: %v", err)
	}
	if _, err := f.OSFile("plain"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second OSFile: %v", err)
	}
}
