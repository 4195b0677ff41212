// Package images is the watched directory of OS images (images_dir) that
// the HTTP server serves at /images/<file>: plaintext files, never
// configs, never sealed.
//
// Each version of a file (its inode, size, modification and change times)
// is hashed once, in the background with bounded parallelism, after it has
// been left alone for the settle delay; its SHA-256 is logged as an
// image.state event and answered by Lookup, so that DHCP boot profiles and
// SZTP can state it. Open serves only the version that was hashed: a file
// not hashed yet, or changed since, is refused as not ready until its new
// version is hashed. Files are reached from a descriptor of the directory
// without following symbolic links (keystore/regfile) and must be regular
// files.
package images

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Config configures the directory.
type Config struct {
	Dir     string
	Settle  time.Duration // quiet time after the last change before a file is hashed; default 250ms
	Workers int           // files hashed at once; default 2
}

// Errors from Open. ErrNotFound and ErrInvalid match fs.ErrNotExist: to a
// client, an image that cannot be served does not exist.
var (
	// ErrNotFound means there is no image of that name.
	ErrNotFound = fmt.Errorf("no such image: %w", fs.ErrNotExist)
	// ErrInvalid means the file exists but is never served (a symbolic
	// link, a directory, a name that is not servable, unreadable).
	ErrInvalid = fmt.Errorf("image cannot be served: %w", fs.ErrNotExist)
	// ErrNotReady means the file's current version has no SHA-256 yet: it
	// is new, or changed since it was hashed. Ask again shortly.
	ErrNotReady = errors.New("image not ready")
)

// Image states, as logged in image.state events.
const (
	StateReady   = "ready"
	StateRemoved = "removed"
	StateInvalid = "invalid"
	stateHashing = "hashing" // counted in the gauge, not logged as an event

	defaultSettle  = 250 * time.Millisecond
	defaultWorkers = 2
	maxNameLength  = 255
)

// validName reports whether a file name can be asked for over HTTP as
// /images/<name>: the characters of a URL path segment that need no
// escaping, and no leading dot.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLength || name[0] == '.' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

// ignored reports names that are never images: dot files (editors', scp's
// and rsync's temporary files), backups and partial downloads.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") ||
		strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") ||
		strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part")
}
