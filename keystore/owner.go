package keystore

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// Files sealboot writes into the keys directory (certificates, the pin
// database and its lock) belong to the directory's owner and group, so
// that `sealboot keys` run as root leaves a keystore the service, running
// as its own user, still reads and writes.

// giveToDirOwner makes f belong to the owner and group of dir. It fails,
// saying who should run the command, when this process may not.
func giveToDirOwner(f *os.File, dir string) error {
	var ds, fs unix.Stat_t
	if err := unix.Stat(dir, &ds); err != nil {
		return fmt.Errorf("stat keys directory: %w", err)
	}
	if err := unix.Fstat(int(f.Fd()), &fs); err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if fs.Uid == ds.Uid && fs.Gid == ds.Gid {
		return nil
	}
	if err := unix.Fchown(int(f.Fd()), int(ds.Uid), int(ds.Gid)); err != nil {
		return fmt.Errorf("the keys directory %s belongs to %s:%s and this process (uid %d) cannot give files to them, so the service could not read them (%w): run this as root or as %s",
			dir, userName(ds.Uid), groupName(ds.Gid), os.Geteuid(), err, userName(ds.Uid))
	}
	return nil
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}
