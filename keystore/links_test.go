package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const linkReason = "a symbolic link: certificates must be regular files in keys_dir"

// Certificates are regular files in keys_dir: a symlink, wherever it
// points, and a FIFO are files with a problem; a subdirectory is not
// looked into; a hard link (rsync --link-dest) is a certificate.
func TestOnlyRegularFilesAreCertificates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	outside := t.TempDir()
	in, out, hard := device(t, "SN2", P256), device(t, "SN1", P256), device(t, "SN4", P256)
	h.write("SN2.crt", in.CertPEM)
	for name, d := range map[string]*DeviceIdentity{"SN1.crt": out, "SN4.crt": hard, "SN3.crt": device(t, "SN3", P256)} {
		if err := os.WriteFile(filepath.Join(outside, name), d.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Minute)
	for _, err := range []error{
		os.Symlink(filepath.Join(outside, "SN1.crt"), filepath.Join(h.dir, "SN1.crt")),
		os.Symlink("SN2.crt", filepath.Join(h.dir, "SN2-link.crt")),
		syscall.Mkfifo(filepath.Join(h.dir, "SN5.crt"), 0o644),
		os.Mkdir(filepath.Join(h.dir, "SN3.crt"), 0o755),
		os.Rename(filepath.Join(outside, "SN3.crt"), filepath.Join(h.dir, "SN3.crt", "SN3.crt")),
		os.Chtimes(filepath.Join(outside, "SN4.crt"), old, old),
		os.Link(filepath.Join(outside, "SN4.crt"), filepath.Join(h.dir, "SN4.crt")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Finished copies: older than the settle delay.
	for _, name := range []string{"SN1.crt", "SN2-link.crt", "SN5.crt"} {
		tv := []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}
		if err := unix.Lutimes(filepath.Join(h.dir, name), tv); err != nil {
			t.Fatal(err)
		}
	}
	h.rescan()

	for serial, want := range map[string]bool{"SN1": false, "SN2": true, "SN3": false, "SN4": true, "SN5": false} {
		if got := h.store.HasCertificate(serial); got != want {
			t.Errorf("HasCertificate(%s) = %v, want %v", serial, got, want)
		}
	}
	if e, ok := h.store.Lookup("SN2"); !ok || e.File != "SN2.crt" {
		t.Errorf("SN2 from %q, want SN2.crt", e.File)
	}
	problems := map[string]string{}
	for _, p := range h.store.Problems() {
		problems[p.File] = p.State + ": " + p.Reason
	}
	want := map[string]string{
		"SN1.crt":      "invalid: " + linkReason,
		"SN2-link.crt": "invalid: " + linkReason,
		"SN5.crt":      "invalid: a named pipe (FIFO): certificates must be regular files in keys_dir",
	}
	if len(problems) != len(want) {
		t.Errorf("problems %v, want %v", problems, want)
	}
	for f, w := range want {
		if problems[f] != w {
			t.Errorf("%s: %q, want %q", f, problems[f], w)
		}
	}
	for _, e := range h.events("invalid") {
		if f := field(e, "file"); want[f] != "invalid: "+field(e, "reason") {
			t.Errorf("event for %s: %q", f, field(e, "reason"))
		}
	}
}

// The pin file is a regular file in keys_dir: a link there is an error
// (not an empty pin database), and a link planted as the lock file does
// not make an import create or open its target.
func TestPinFilesAreNotFollowed(t *testing.T) {
	t.Parallel()
	dir, elsewhere := t.TempDir(), t.TempDir()
	d := device(t, "SN1", P256)
	if err := os.WriteFile(filepath.Join(elsewhere, "pins"), []byte("SN1 "+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "pins"), filepath.Join(dir, pinsFile)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir}, zap.NewNop(), nil)
	if err == nil || !strings.Contains(err.Error(), ".sealboot-pins is a symbolic link") {
		t.Fatalf("Open with a symlinked pin file: %v", err)
	}

	dir2 := t.TempDir()
	target := filepath.Join(elsewhere, "created-by-sealboot")
	if err := os.Symlink(target, filepath.Join(dir2, lockFile)); err != nil {
		t.Fatal(err)
	}
	st, err := Open(Options{Dir: dir2}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(d.CertPEM, "", false); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Import with a symlinked lock file: %v, want ELOOP", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file's link target was created: %v", err)
	}
}
