// Package regfile opens and stats regular files inside a directory without
// following links.
//
// A directory sealboot serves from (configs_dir, keys_dir) is opened once,
// by its path, as a directory descriptor: the path itself may be a symlink,
// so a deploy that swaps it to a new release keeps working. The entries
// inside are then reached only relative to that descriptor, by their own
// name (one path component), with openat(2) and fstatat(2) told not to
// follow a symbolic link, and a file is used only when the opened
// descriptor is a regular file. A symlink dropped into the directory
// (SN1.cfg -> /etc/shadow), a FIFO (opened non-blocking, so it cannot hang
// the caller), a socket, a device or a directory is refused with a
// *NotRegularError that says which it is.
//
// Hard links are regular files and are accepted: rsync --link-dest and
// similar deploys give every unchanged file a link count above one.
// Creating a hard link needs write access to the directory and, with
// fs.protected_hardlinks (the default), ownership of the target or read
// and write access to it.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Errors.
var (
	// ErrNotRegular is what every *NotRegularError matches.
	ErrNotRegular = errors.New("not a regular file")
	// ErrBadName means a name that is not a single entry of the
	// directory: empty, ".", "..", or holding a '/'.
	ErrBadName = errors.New("not a file name in the directory")
	// ErrClosed means the Dir was closed.
	ErrClosed = errors.New("directory is closed")
	// ErrTooLarge means a file is larger than the caller's limit.
	ErrTooLarge = errors.New("file too large")
)

// NotRegularError says what an entry is when it is not a regular file.
type NotRegularError struct {
	Name string
	Kind string // "a symbolic link", "a directory", "a named pipe (FIFO)", ...
}

// Error names the entry and its kind.
func (e *NotRegularError) Error() string { return e.Name + " is " + e.Kind }

// Unwrap returns ErrNotRegular.
func (e *NotRegularError) Unwrap() error { return ErrNotRegular }

// Kind describes a file mode's type, as NotRegularError.Kind does.
func Kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	}
	return "not a regular file"
}

// Dir is a directory opened once by its path. It is safe for concurrent
// use; Close waits for the calls in progress.
type Dir struct {
	path string
	dev  uint64
	ino  uint64

	mu      sync.RWMutex // shared while fd is in use, exclusive to close it
	fd      int          // -1 once closed
	cleanup runtime.Cleanup
}

// OpenDir opens the directory at path. Links in path itself are followed:
// the directory may be reached through a symlink.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	d := &Dir{path: path, dev: st.Dev, ino: st.Ino, fd: fd}
	// A Dir dropped without Close (one replaced by a newer release of
	// the directory while a reader still held it) closes its descriptor
	// when it is collected.
	d.cleanup = runtime.AddCleanup(d, func(fd int) { unix.Close(fd) }, fd)
	return d, nil
}

// Path is the path the directory was opened by.
func (d *Dir) Path() string { return d.path }

// Same reports whether path names, now, the directory d has open.
func (d *Dir) Same(path string) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	return st.Dev == d.dev && st.Ino == d.ino
}

// Identity is the device and inode of the directory d has open.
func (d *Dir) Identity() (dev, ino uint64) { return d.dev, d.ino }

// Close closes the directory once the calls in progress are done.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil
	}
	d.cleanup.Stop()
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// use runs fn with the directory's descriptor held open, after checking
// that name is one entry of the directory.
func (d *Dir) use(name string, fn func(fd int) error) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	return d.held(fn)
}

func (d *Dir) held(fn func(fd int) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return ErrClosed
	}
	return fn(d.fd)
}

// Names lists the directory's entries (not "." and ".."), in no order.
func (d *Dir) Names() ([]string, error) {
	var names []string
	err := d.held(func(dirfd int) error {
		// A descriptor of its own: reading entries moves its offset.
		fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: d.path, Err: err}
		}
		f := os.NewFile(uintptr(fd), d.path)
		defer f.Close()
		names, err = f.Readdirnames(-1)
		return err
	})
	return names, err
}

// Lstat stats the entry name itself: a symbolic link is not followed.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := d.use(name, func(fd int) error {
		return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil && !errors.Is(err, ErrBadName) && !errors.Is(err, ErrClosed) {
		err = &os.PathError{Op: "lstat", Path: d.path + "/" + name, Err: err}
	}
	return st, err
}

// Stat is Lstat for an entry that must be a regular file: any other gives
// a *NotRegularError, along with its stat.
func (d *Dir) Stat(name string) (unix.Stat_t, error) {
	st, err := d.Lstat(name)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		err = &NotRegularError{Name: name, Kind: Kind(st.Mode)}
	}
	return st, err
}

// Readable reports, by the effective ids, whether the entry name could be
// opened for reading, without opening it (one system call).
func (d *Dir) Readable(name string) error {
	return d.use(name, func(fd int) error {
		return unix.Faccessat(fd, name, unix.R_OK, unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW)
	})
}

// File is a regular file opened by Dir.Open.
type File struct {
	fd   int
	Stat unix.Stat_t // of the opened descriptor
}

// Open opens the entry name for reading. It fails with a *NotRegularError
// unless the opened descriptor is a regular file; a symbolic link is never
// followed and a FIFO never blocks.
func (d *Dir) Open(name string) (*File, error) {
	f := &File{fd: -1}
	err := d.use(name, func(dirfd int) error {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.ELOOP: // O_NOFOLLOW on a link
			return &NotRegularError{Name: name, Kind: Kind(unix.S_IFLNK)}
		case err == unix.ENXIO: // a socket, or a device without its driver
			var st unix.Stat_t
			if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
				return &NotRegularError{Name: name, Kind: Kind(st.Mode)}
			}
			return &os.PathError{Op: "open", Path: d.path + "/" + name, Err: err}
		case err != nil:
			return &os.PathError{Op: "open", Path: d.path + "/" + name, Err: err}
		}
		f.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := unix.Fstat(f.fd, &f.Stat); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "stat", Path: d.path + "/" + name, Err: err}
	}
	if f.Stat.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, &NotRegularError{Name: name, Kind: Kind(f.Stat.Mode)}
	}
	return f, nil
}

// Restat stats the open file again (Stat is as it was when opened): a
// caller that read it whole sees whether it changed meanwhile.
func (f *File) Restat() (unix.Stat_t, error) {
	var st unix.Stat_t
	if f.fd < 0 {
		return st, os.ErrClosed
	}
	return st, unix.Fstat(f.fd, &st)
}

// Read reads from the file; io.EOF at its end.
func (f *File) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// OSFile hands the descriptor over as an *os.File, in blocking mode (reads
// of a regular file never block; Go then keeps it out of its network
// poller), for callers that need one: net's sendfile takes an *os.File.
// f is empty afterwards; closing the *os.File closes the descriptor.
func (f *File) OSFile(name string) (*os.File, error) {
	if f.fd < 0 {
		return nil, os.ErrClosed
	}
	if err := unix.SetNonblock(f.fd, false); err != nil {
		return nil, &os.PathError{Op: "fcntl", Path: name, Err: err}
	}
	fd := f.fd
	f.fd = -1
	return os.NewFile(uintptr(fd), name), nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

// ReadFile reads the regular file name whole. A file larger than limit
// bytes gives ErrTooLarge; one that grows while it is read is reported as
// changed.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, unix.Stat_t, error) {
	return d.ReadFileInto(name, limit, nil)
}

// ReadFileInto is ReadFile reading into buf when it has room for the
// file and one byte more (the returned slice is then buf's), so that a
// scan of many small files reuses one buffer.
func (d *Dir) ReadFileInto(name string, limit int64, buf []byte) ([]byte, unix.Stat_t, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, unix.Stat_t{}, err
	}
	defer f.Close()
	if f.Stat.Size > limit {
		return nil, f.Stat, fmt.Errorf("%s: %d bytes: %w", name, f.Stat.Size, ErrTooLarge)
	}
	if int64(cap(buf)) > f.Stat.Size {
		buf = buf[:f.Stat.Size+1]
	} else {
		buf = make([]byte, f.Stat.Size+1)
	}
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		return nil, f.Stat, fmt.Errorf("%s changed while being read", name)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, f.Stat, &os.PathError{Op: "read", Path: d.path + "/" + name, Err: err}
	case int64(n) != f.Stat.Size:
		return nil, f.Stat, fmt.Errorf("%s changed while being read", name)
	}
	return buf[:n], f.Stat, nil
}
