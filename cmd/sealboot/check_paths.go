package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

// Access modes, as access(2) takes them.
const (
	mayRead   = unix.R_OK
	mayWrite  = unix.W_OK
	maySearch = unix.X_OK
)

// madeDir is a directory serve makes at start when it is missing.
type madeDir struct {
	key  string
	path *string
	mode os.FileMode
}

// madeDirs are the directories serve makes when missing (prepareDirs) and
// check expects it to be able to make: state, keys, configs and images,
// and the SZTP trust anchors' when SZTP runs. Configs hold secrets: their
// directory is private to the service.
func madeDirs(cfg *config.Config) []madeDir {
	out := []madeDir{
		{"state_dir", &cfg.StateDir, 0o750},
		{"keys_dir", &cfg.KeysDir, 0o750},
		{"configs_dir", &cfg.ConfigsDir, 0o700},
		{"images_dir", &cfg.ImagesDir, 0o750},
	}
	if len(cfg.SZTP.Listen) > 0 {
		out = append(out, madeDir{"sztp.trust_anchors", &cfg.SZTP.TrustAnchors, 0o750})
	}
	return out
}

// accessor says whether a user may use a path.
type accessor struct {
	who   string // "" for this process
	uid   int
	check func(path string, mode uint32) error
}

// processAccess is this process's access, as the kernel decides it
// (permission bits, ACLs, capabilities).
func processAccess() accessor {
	return accessor{uid: os.Geteuid(), check: func(path string, mode uint32) error {
		return unix.Faccessat(unix.AT_FDCWD, path, mode, unix.AT_EACCESS)
	}}
}

// userAccess judges access for the named user from the permission bits of
// the path and of every directory above it (ACLs are not read).
func userAccess(name string) (accessor, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return accessor{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	var gids []int
	ids, _ := u.GroupIds()
	for _, g := range append(ids, u.Gid) {
		if n, err := strconv.Atoi(g); err == nil {
			gids = append(gids, n)
		}
	}
	return accessor{who: name, uid: uid, check: func(path string, mode uint32) error {
		if uid == 0 {
			return nil
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
			if err := bitsAllow(dir, uid, gids, maySearch); err != nil {
				return fmt.Errorf("%s: %w", dir, err)
			}
			if dir == "/" {
				break
			}
		}
		return bitsAllow(abs, uid, gids, mode)
	}}, nil
}

// bitsAllow says whether the permission bits of path give uid (in gids)
// mode.
func bitsAllow(path string, uid int, gids []int, mode uint32) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	perm := uint32(fi.Mode().Perm())
	bits := perm & 7
	switch {
	case int(st.Uid) == uid:
		bits = perm >> 6 & 7
	case slices.Contains(gids, int(st.Gid)):
		bits = perm >> 3 & 7
	}
	if bits&mode != mode {
		return fmt.Errorf("%w (mode %s, owner %d:%d)", fs.ErrPermission, fi.Mode(), st.Uid, st.Gid)
	}
	return nil
}

// checkPaths reports every directory and file serve reads that is missing,
// of the wrong kind or out of u's reach. A directory under one already
// reported is not reported again.
func checkPaths(cfg *config.Config, u accessor) []error {
	var errs []error
	var bad []string
	under := func(p string) bool {
		return slices.ContainsFunc(bad, func(b string) bool { return p == b || strings.HasPrefix(p, b+"/") })
	}
	add := func(key, path string, err error) {
		if err == nil {
			return
		}
		if u.who != "" {
			err = fmt.Errorf("as user %s: %w", u.who, err)
		}
		errs = append(errs, fmt.Errorf("%s: %s: %w", key, path, err))
		bad = append(bad, filepath.Clean(path))
	}
	socket := cfg.SocketPath(os.Getenv, u.uid)
	writable := cfg.DHCP.Enabled || strings.HasPrefix(socket, filepath.Clean(cfg.StateDir)+"/")
	for _, d := range madeDirs(cfg) {
		if under(filepath.Clean(*d.path)) {
			continue
		}
		mode := uint32(mayRead | maySearch)
		if d.key == "state_dir" && writable {
			mode |= mayWrite // lease journals, the control socket
		}
		add(d.key, *d.path, checkDir(*d.path, mode, true, u))
	}
	if len(cfg.SZTP.Listen) > 0 && cfg.SZTP.VouchersDir != "" {
		add("sztp.vouchers_dir", cfg.SZTP.VouchersDir, checkDir(cfg.SZTP.VouchersDir, mayRead|maySearch, false, u))
	}
	if socket != "" && !under(filepath.Dir(socket)) {
		add("admin.socket", filepath.Dir(socket), checkDir(filepath.Dir(socket), mayWrite|maySearch, true, u))
	}
	for _, f := range readFiles(cfg) {
		add(f.key, f.path, checkFile(f.path, u))
	}
	return errs
}

// checkDir checks a directory serve reads (mode): it exists and is a
// directory that u may use as mode; or, when serve makes it (canMake), the
// nearest directory above it that exists lets u make it.
func checkDir(path string, mode uint32, canMake bool, u accessor) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && canMake:
		parent := filepath.Dir(filepath.Clean(path))
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		if err := u.check(parent, mayWrite|maySearch); err != nil {
			return fmt.Errorf("missing, and serve cannot make it: %s: %w", parent, err)
		}
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return errors.New("not a directory")
	}
	return u.check(path, mode)
}

// checkFile checks a file serve reads: it exists, is a regular file (a
// symbolic link to one is fine: these are the operator's paths, such as
// a certificate renewed in place) and u may read it.
func checkFile(path string, u accessor) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return u.check(path, mayRead)
}

// namedFile is a file the configuration names.
type namedFile struct{ key, path string }

// readFiles lists the files serve reads at start, by key: those of the
// components that run.
func readFiles(cfg *config.Config) []namedFile {
	var out []namedFile
	add := func(key, path string) {
		if path != "" {
			out = append(out, namedFile{key, path})
		}
	}
	if cfg.DHCP.Enabled {
		add("dhcp.inventory", cfg.DHCP.Inventory)
	}
	// Named in the file: read by serve's user. A systemd credential is
	// copied for that user by systemd, whoever owns its source.
	add("appliance_key", cfg.ApplianceKey)
	add("appliance_cert", cfg.ApplianceCert)
	if cfg.Keystore.FetchURL != "" { // a credential is the process's own copy
		add("keystore.fetch_ca", cfg.Keystore.FetchCA)
		for i, h := range cfg.Keystore.FetchHeaders {
			add(fmt.Sprintf("keystore.fetch_headers[%d].file", i), h.File)
		}
	}
	if len(cfg.HTTP.Listen) > 0 {
		add("http.tls_cert", cfg.HTTP.TLSCert)
		add("http.tls_key", cfg.HTTP.TLSKey)
	}
	if len(cfg.SZTP.Listen) == 0 {
		return out
	}
	s := cfg.SZTP
	add("sztp.tls_cert", s.TLSCert)
	add("sztp.tls_key", s.TLSKey)
	add("sztp.owner_cert", s.OwnerCert)
	add("sztp.owner_key", s.OwnerKey)
	add("sztp.basic_auth", s.BasicAuth)
	for i, r := range s.Redirect {
		add(fmt.Sprintf("sztp.redirect[%d].trust_anchor", i), r.TrustAnchor)
	}
	for i, p := range cfg.Profiles {
		add(fmt.Sprintf("profiles[%d].pre_script", i), p.PreScript)
		add(fmt.Sprintf("profiles[%d].post_script", i), p.PostScript)
	}
	return out
}
