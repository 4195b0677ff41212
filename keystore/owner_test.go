package keystore

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

// nobody is the user the keys directory belongs to in these tests.
const nobody = 65534

// ownedDir is a keys directory that belongs to nobody (root only).
func ownedDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: files are given to another user")
	}
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFilesKeepTheDirectorysOwner(t *testing.T) {
	t.Parallel()
	dir := ownedDir(t)
	st, err := Open(Options{Dir: dir, Settle: 1}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SN-O1", "SN-O2"} {
		if _, err := st.Import(device(t, s, P256).CertPEM, "", false); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Remove("SN-O1"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Uid != nobody || sys.Gid != nobody {
			t.Errorf("%s belongs to %d:%d, want the directory's owner %d:%d", e.Name(), sys.Uid, sys.Gid, nobody, nobody)
		}
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".sealboot-pins .sealboot-pins.lock SN-O2.crt" {
		t.Fatalf("files: %s", got)
	}
}
