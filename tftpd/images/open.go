package images

import (
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore/regfile"
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

// openDir opens the directory by its path (which may be a symlink to a
// release); its entries are then reached relative to it without following
// links (keystore/regfile).
func openDir(path string) (*regfile.Dir, error) {
	rd, err := regfile.OpenDir(path)
	if err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	return rd, nil
}

// reopen opens the directory's path again when it names another directory
// than the one open (a release swapped in, the directory made again).
func (d *Dir) reopen() error {
	old := d.dir.Load()
	if old.Same(d.cfg.Dir) {
		return nil
	}
	rd, err := openDir(d.cfg.Dir)
	if err != nil {
		return err
	}
	if d.dir.CompareAndSwap(old, rd) {
		old.Close()
	} else {
		rd.Close()
	}
	return nil
}

// open opens a regular file of the directory (never through a symbolic
// link, never blocking on a FIFO) with the stat of its descriptor.
func (d *Dir) open(name string) (*regfile.File, error) {
	return d.dir.Load().Open(name)
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
