package fetch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxNameLength bounds request names; RFC 1350 sets no limit, vendors use
// short names.
const maxNameLength = 128

// errDeniedName is a name that could never be a config name: traversal,
// absolute or Windows paths, control characters, over-long.
var errDeniedName = errors.New("denied name")

// errUnknownName is a clean name that matches no pattern.
var errUnknownName = errors.New("name matches no pattern")

// pattern is a file name with one {serial} in it.
type pattern struct{ prefix, suffix string }

// resolver maps request names to serials.
type resolver struct {
	patterns []pattern
	fixed    map[string]bool
}

func newResolver(names, fixed []string) (*resolver, error) {
	r := &resolver{fixed: map[string]bool{}}
	for _, n := range names {
		pre, suf, ok := strings.Cut(n, "{serial}")
		if !ok || strings.Contains(suf, "{serial}") {
			return nil, fmt.Errorf("tftp.names: pattern %q must contain {serial} exactly once", n)
		}
		r.patterns = append(r.patterns, pattern{pre, suf})
	}
	// The most specific pattern first, whatever the order in the file:
	// serials may contain '.', so with "{serial}.enc" tried first,
	// "SN1.cfg.enc" would be serial "SN1.cfg" rather than SN1 of
	// "{serial}.cfg.enc".
	slices.SortStableFunc(r.patterns, func(a, b pattern) int {
		return (len(b.prefix) + len(b.suffix)) - (len(a.prefix) + len(a.suffix))
	})
	for _, n := range fixed {
		r.fixed[n] = true
	}
	return r, nil
}

// resolve returns the serial a name carries, or fixed=true for a fixed
// name (whose serial comes from the DHCP binding). A single leading "/" is
// dropped first: many boot ROMs send "/name" for a file at the root.
func (r *resolver) resolve(name string) (serial string, fixed bool, err error) {
	name, err = cleanName(name)
	if err != nil {
		return "", false, err
	}
	if r.fixed[name] {
		return "", true, nil
	}
	for _, p := range r.patterns {
		if len(name) <= len(p.prefix)+len(p.suffix) || !strings.HasPrefix(name, p.prefix) || !strings.HasSuffix(name, p.suffix) {
			continue
		}
		if s := name[len(p.prefix) : len(name)-len(p.suffix)]; validSerial(s) {
			return s, false, nil
		}
	}
	return "", false, errUnknownName
}

// cleanName checks a request name: no path may ever be built from it, so
// anything that looks like one is refused.
func cleanName(name string) (string, error) {
	name = strings.TrimPrefix(name, "/")
	switch {
	case name == "", len(name) > maxNameLength:
		return "", fmt.Errorf("%w: empty or longer than %d bytes", errDeniedName, maxNameLength)
	case strings.ContainsAny(name, "/\\:"):
		return "", fmt.Errorf("%w: contains a path separator", errDeniedName)
	case strings.Contains(name, ".."), name == ".":
		return "", fmt.Errorf("%w: contains ..", errDeniedName)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c >= 0x7f {
			return "", fmt.Errorf("%w: contains a control or non-ASCII byte", errDeniedName)
		}
	}
	return name, nil
}

// validSerial is the serial character set shared with the keystore and the
// DHCP plugin.
func validSerial(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
