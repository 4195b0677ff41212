package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// serviceUID is the user the service runs as in these tests (nobody).
const serviceUID = 65534

// asService runs cmd as serviceUID.
func asService(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: serviceUID, Gid: serviceUID}}
	return cmd
}

// worldDir is a directory every user may enter (t.TempDir's are 0700),
// with the sealboot binary in it.
func worldDir(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sealboot-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "sealboot")
	src, err := os.Open(buildSealboot(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// deviceFiles writes serial's key and certificate, readable by everyone.
func deviceFiles(t *testing.T, dir, serial string) *keystore.DeviceIdentity {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, serial+".crt"), id.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

// ownedBy lists dir, and fails the test at the first entry that does not
// belong to uid:uid.
func ownedBy(t *testing.T, dir string, uid uint32) []string {
	t.Helper()
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
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != uid {
			t.Fatalf("%s belongs to %d:%d, want %d:%d", e.Name(), st.Uid, st.Gid, uid, uid)
		}
		names = append(names, e.Name())
	}
	return names
}

// TestKeysAsRootKeepsTheServiceReading (issue 14 item 5): `sealboot keys
// --config` run as root into the keys directory of a service running as
// another user (nobody) leaves every file it writes owned by that user,
// and the running `sealboot serve` keeps reading and writing its keystore:
// it takes the imported certificate, pins a certificate dropped later, and
// serves the sealed config to curl over TFTP.
func TestKeysAsRootKeepsTheServiceReading(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the service as another user")
	}
	t.Parallel()
	base, bin := worldDir(t)
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, serviceUID, serviceUID); err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	cfgFile := filepath.Join(base, "sealboot.yaml")
	yaml := fmt.Sprintf("state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:%d\"]\nwatch:\n  settle: 50ms\nkeystore:\n  settle: 50ms\n", state, port)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := asService(exec.Command(bin, "serve", "--config", cfgFile))
	cmd.Dir = base
	cmd.Env = append(os.Environ(), "SEALBOOT_ADMIN_SOCKET=off")
	d := startProc(t, cmd)
	d.waitFor("sealboot ready")
	keysDir := filepath.Join(state, "keys")

	one := deviceFiles(t, base, "SN-OWN1")
	putConfig := func(serial string) {
		p := filepath.Join(state, "configs", serial+".cfg")
		if err := os.WriteFile(p, []byte("hostname "+serial+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, serviceUID, serviceUID); err != nil {
			t.Fatal(err)
		}
	}
	putConfig("SN-OWN1")
	d.waitForField("config waiting_for_certificate", "serial", "SN-OWN1")
	out, err := exec.Command(bin, "keys", "--config", cfgFile, "import", filepath.Join(base, "SN-OWN1.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imported SN-OWN1") {
		t.Fatalf("keys import as root: %v\n%s", err, out)
	}
	if names := ownedBy(t, keysDir, serviceUID); strings.Join(names, " ") != ".sealboot-pins .sealboot-pins.lock SN-OWN1.crt" {
		t.Fatalf("keys directory: %v", names)
	}
	d.waitForField("certificate added", "serial", "SN-OWN1")
	d.waitForField("config ready", "serial", "SN-OWN1")

	// The service still writes its pins: a certificate dropped in by the
	// operator is read and pinned by the service itself.
	deviceFiles(t, keysDir, "SN-OWN2")
	if err := os.Chown(filepath.Join(keysDir, "SN-OWN2.crt"), serviceUID, serviceUID); err != nil {
		t.Fatal(err)
	}
	d.waitForField("certificate added", "serial", "SN-OWN2")
	// And keys, as root again, imports a whole directory.
	shipment := filepath.Join(base, "shipment")
	if err := os.Mkdir(shipment, 0o755); err != nil {
		t.Fatal(err)
	}
	deviceFiles(t, shipment, "SN-OWN3")
	deviceFiles(t, shipment, "SN-OWN4")
	out, err = exec.Command(bin, "keys", "--config", cfgFile, "import", shipment).CombinedOutput()
	if err != nil || strings.Count(string(out), "imported SN-OWN") != 2 {
		t.Fatalf("keys import DIR: %v\n%s", err, out)
	}
	ownedBy(t, keysDir, serviceUID)
	d.waitForField("certificate added", "serial", "SN-OWN4")
	pins, err := os.ReadFile(filepath.Join(keysDir, ".sealboot-pins"))
	if err != nil || strings.Count(string(pins), "SN-OWN") != 4 {
		t.Fatalf("pins: %v\n%s", err, pins)
	}
	if _, err := exec.LookPath("curl"); err == nil {
		sealed, err := exec.Command("curl", "-sS", "--fail", fmt.Sprintf("tftp://127.0.0.1:%d/SN-OWN1.enc", port)).Output()
		if err != nil {
			t.Fatalf("curl tftp: %v", err)
		}
		if plain, err := cms.Open(one.Key, sealed); err != nil || string(plain) != "hostname SN-OWN1\n" {
			t.Fatalf("open the config served: %v", err)
		}
	}
	for _, bad := range []string{"permission denied", "cannot write key pins", "rescan failed"} {
		if d.has(bad) {
			t.Errorf("the service logged %q", bad)
		}
	}
	if err := d.stopAndWait(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// TestKeysSaysWhenItCannotKeepTheOwner: run as a user who may write into
// the keys directory but not give files to its owner, keys fails with an
// error that names the owner and what to do, and leaves no certificate.
func TestKeysSaysWhenItCannotKeepTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs keys as another user")
	}
	t.Parallel()
	base, bin := worldDir(t)
	keysDir := filepath.Join(base, "keys")
	if err := os.Mkdir(keysDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chmod(keysDir, 0o777), os.Chown(keysDir, 1, 1)); err != nil {
		t.Fatal(err)
	}
	deviceFiles(t, base, "SN-NOPE")
	out, err := asService(exec.Command(bin, "keys", "--dir", keysDir, "import", filepath.Join(base, "SN-NOPE.crt"))).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	want := "belongs to 1:1"
	if u, err := user.LookupId("1"); err == nil {
		want = "belongs to " + u.Username
	}
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "run this as root or as") {
		t.Fatalf("error %q, want it to say %q and what to do", out, want)
	}
	if _, err := os.Stat(filepath.Join(keysDir, "SN-NOPE.crt")); err == nil {
		t.Fatal("a certificate was left behind")
	}
}
