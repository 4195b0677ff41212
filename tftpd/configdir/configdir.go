// Package configdir watches the directory where operators drop device
// configs and hands the fetch core complete, settled files only. A serial's
// config is one file, of one of three kinds:
//
//   - plaintext, <serial><extension> (e.g. SN123.cfg): sealed to the
//     device's certificate when a device asks;
//   - presealed, <serial><presealed extension> (SN123.enc): a CMS
//     EnvelopedData or AuthEnvelopedData already sealed to the device,
//     served as it is, never opened; it is ready only once one of its
//     recipients is the serial's pinned certificate (checked again when the
//     certificate changes), and invalid otherwise, naming both;
//   - sealed to the appliance, <serial><appliance extension>
//     (SN123.cfg.cms): opened in memory with the appliance key when a
//     device needs it, then sealed to the device like a plaintext config.
//     The plaintext never touches the disk (RFC 8886 section 7).
//
// Two files of different kinds for one serial are ambiguous: both are
// invalid, with a reason naming both, until one goes (a plaintext config
// left beside its sealed version is exactly what sealed configs are there
// to avoid, so it is reported rather than silently shadowed).
//
// A file is taken once it has been left alone for the settle delay (an
// editor's save, a partial scp or a file still being written is never
// served). Only its size, modification and change times and inode are kept in memory
// (and, for sealed kinds, who it is sealed to);
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
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Config configures the directory.
type Config struct {
	Dir       string
	Extension string        // plaintext configs; default ".cfg"
	MaxSize   int64         // larger files are invalid; default 1 MiB
	Settle    time.Duration // default 250ms
	// PresealedExtension names configs already sealed to the device,
	// served as they are; default ".enc".
	PresealedExtension string
	// ApplianceExtension names configs sealed to the appliance; default
	// ".cfg.cms".
	ApplianceExtension string
	// Appliance opens configs sealed to the appliance; nil: there is no
	// appliance key, and such files are invalid.
	Appliance Appliance
}

// CertificateChecker tells whether a serial has a certificate, to log
// ready vs waiting_for_certificate, and gives it, to check who a presealed
// config is sealed to. *keystore.Store implements it.
type CertificateChecker interface {
	HasCertificate(serial string) bool
	Certificate(serial string) (cert *x509.Certificate, fingerprint string, ok bool)
}

// Appliance is sealboot's own key pair. *appliance.Appliance implements it.
type Appliance interface {
	Certificate() *x509.Certificate
	// Open decrypts a config sealed to the appliance certificate.
	Open(data []byte) ([]byte, error)
}

// Kinds of config file, as logged in config.state's kind field.
const (
	KindPlaintext = "plaintext"
	KindPresealed = "presealed"
	KindAppliance = "appliance_sealed"
)

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
	// ErrPresealed is what Config says of a config already sealed to the
	// device: it has no plaintext to give (Presealed gives its bytes).
	ErrPresealed = errors.New("config is sealed to the device already: it is served as it is and never opened")
)

// Config states, as logged.
const (
	StateReady           = "ready"
	StateWaitingForCert  = "waiting_for_certificate"
	StateRemoved         = "removed"
	StateInvalid         = "invalid"
	defaultExtension     = ".cfg"
	defaultPresealed     = ".enc"
	defaultAppliance     = ".cfg.cms"
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
