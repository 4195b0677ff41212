package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/plugins/bootstrap"
)

// CheckConfig reports what would make New or Run refuse cfg, without
// opening anything for writing: the inventory (read and parsed), the
// options and pools against this host's interfaces, and whether the lease
// journals in cfg.StateDir may be written. `sealboot check` calls it where
// serve calls New, so that the two cannot drift.
func CheckConfig(cfg Config) error {
	var errs []error
	if cfg.Inventory != "" {
		if _, err := bootstrap.LoadInventory(cfg.Inventory, zap.NewNop()); err != nil {
			errs = append(errs, err) // it names dhcp.inventory
		}
	}
	for _, j := range []struct {
		on   bool
		name string
	}{{len(cfg.V4.Interfaces) > 0, "leases4.journal"}, {len(cfg.V6.Interfaces) > 0, "leases6.journal"}} {
		if j.on {
			errs = append(errs, checkJournal(filepath.Join(cfg.StateDir, j.name)))
		}
	}
	if _, err := (&Server{}).pluginConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkJournal says whether the lease journal at path may be read and
// rewritten: an existing one must be a regular file this process may read,
// and its directory writable (compaction writes a new file and renames it
// over the old one).
func checkJournal(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("lease journal: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("lease journal %s: not a regular file (%s)", path, fi.Mode().Type())
	default:
		if err := unix.Faccessat(unix.AT_FDCWD, path, unix.R_OK, unix.AT_EACCESS); err != nil {
			return fmt.Errorf("lease journal %s: cannot read it: %w", path, err)
		}
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil // the state directory is made at start; its own check reports it
	}
	if err := unix.Faccessat(unix.AT_FDCWD, filepath.Dir(path), unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("lease journal %s: cannot write its directory: %w", path, err)
	}
	return nil
}
