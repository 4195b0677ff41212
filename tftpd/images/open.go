package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// identity is one version of a file: a rewrite in place changes its times
// (ctime even when size and mtime are set back, as cp -p does), a
// replacement by rename changes its inode.
type identity struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // UnixNano
}

func identityOf(st *unix.Stat_t) identity {
	return identity{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// errNotRegular is a directory entry that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// openRegular opens name in dir for reading without following a symbolic
// link (O_NOFOLLOW: a link is refused, not served as the file it points
// to) and without blocking on a FIFO (O_NONBLOCK), and refuses anything
// but a regular file, checked on the opened descriptor.
//
// TODO(regfile): use keystore/regfile (branch harden-files) once it is on
// main; it does this relative to a directory descriptor.
func openRegular(dir, name string) (*os.File, *unix.Stat_t, error) {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, nil, fmt.Errorf("%w: a symbolic link (never followed)", errNotRegular)
		}
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%w (%s)", errNotRegular, kind(st.Mode))
	}
	// Reads of a regular file never block; a blocking descriptor keeps Go
	// from trying to put it in its network poller.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), &st, nil
}

// lstat describes name in dir without following a symbolic link.
func lstat(dir, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, name), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symbolic link (never followed)"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "not a regular file"
}

// fileInfo is an fs.FileInfo from the stat of the descriptor that was
// checked, so that what is served and what is described are one version.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fs.FileMode(fi.st.Mode & 0o777) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *fileInfo) IsDir() bool        { return false }
func (fi *fileInfo) Sys() any           { return &fi.st }
