// Package configdir watches the directory where operators drop plaintext
// device configs, <serial><extension> (e.g. SN123.cfg), and hands the TFTP
// server complete, settled files only.
//
// A file is taken once it has been left alone for the settle delay (an
// editor's save, a partial scp or a file still being written is never
// served). Only its size, modification and change times and inode are kept in memory;
// the content is read when a device asks for it, and if the file no longer
// matches what was settled it is reported as not ready rather than served
// half-written. Every change is logged as one config.state event: ready,
// waiting_for_certificate, removed or invalid (with the reason). At start
// the directory is summarised in one line, plus one line per invalid file.
//
// A config is only ever a regular file inside the directory, reached from
// a descriptor of the directory without following links (package
// keystore/regfile): a symbolic link, wherever it points, a FIFO, a
// socket or a directory named like a config is invalid, with a reason
// saying which, and is never read. The directory's own path may be a
// symlink (a release swapped in): it is opened again when it names
// another directory. Hard links are served.
package configdir

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Config configures the directory.
type Config struct {
	Dir       string
	Extension string        // default ".cfg"
	MaxSize   int64         // larger files are invalid; default 1 MiB
	Settle    time.Duration // default 250ms
}

// CertificateChecker tells whether a serial has a certificate, to log
// ready vs waiting_for_certificate. *keystore.Store implements it.
type CertificateChecker interface {
	HasCertificate(serial string) bool
}

// Errors from Config.
var (
	// ErrNotFound means there is no config for the serial. It matches
	// fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("no config for this serial: %w", fs.ErrNotExist)
	// ErrNotReady means the file is changing: it is not served until it
	// settles again.
	ErrNotReady = errors.New("config file is changing")
	// ErrInvalid means the file exists but cannot be served (empty, too
	// large, unreadable).
	ErrInvalid = errors.New("config file is invalid")
)

// Config states, as logged.
const (
	StateReady           = "ready"
	StateWaitingForCert  = "waiting_for_certificate"
	StateRemoved         = "removed"
	StateInvalid         = "invalid"
	defaultExtension     = ".cfg"
	defaultMaxSize       = 1 << 20
	defaultSettle        = 250 * time.Millisecond
	maxSerialLength      = 64
	directoryModeWarning = 0o007
)

// serialOf returns the serial a file name carries, or why it carries none.
func serialOf(name, ext string) (string, error) {
	serial, ok := strings.CutSuffix(name, ext)
	if !ok {
		return "", errors.New("not a config file")
	}
	if !validSerial(serial) {
		return "", fmt.Errorf("file name %q is not <serial>%s with a serial of letters, digits, '.', '_', '-'", name, ext)
	}
	return serial, nil
}

func validSerial(s string) bool {
	if s == "" || len(s) > maxSerialLength || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ignored reports names that are never configs: dot files (editors' and
// scp's temporary files, our own), backups and swap files.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") ||
		strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") ||
		strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part")
}
