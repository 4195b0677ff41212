package configdir

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

const linkReason = "a symbolic link: configs must be regular files in configs_dir"

// secretOutside writes a file outside the configs directory, as /etc/shadow
// or a private key would be.
func secretOutside(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	writeOld(t, p, []byte("root:$6$secret:19000::::::\n"))
	return p
}

func (h *harness) reason(file string) (string, bool) {
	for _, e := range h.logs.FilterField(zap.String("file", file)).AllUntimed() {
		if e.ContextMap()["state"] == StateInvalid {
			return e.ContextMap()["reason"].(string), true
		}
	}
	return "", false
}

// A config entry is only ever a regular file inside the directory: a
// symlink, wherever it points, a FIFO, a socket or a directory is invalid,
// never ready and never read. Hard links are regular files (rsync
// --link-dest deploys make them) and are served.
func TestOnlyRegularFilesAreConfigs(t *testing.T) {
	t.Parallel()
	secret := secretOutside(t)
	h := newHarness(t, time.Millisecond, func(dir string) {
		writeOld(t, filepath.Join(dir, "SN9.cfg"), []byte("hostname nine\n"))
		for _, err := range []error{
			os.Symlink(secret, filepath.Join(dir, "SN1.cfg")),
			os.Symlink("SN9.cfg", filepath.Join(dir, "SN2.cfg")),
			syscall.Mkfifo(filepath.Join(dir, "SN3.cfg"), 0o600),
			os.Mkdir(filepath.Join(dir, "SN4.cfg"), 0o700),
			os.Link(filepath.Join(dir, "SN9.cfg"), filepath.Join(dir, "SN5.cfg")),
			os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "SN6.cfg")),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "SN7.cfg"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	})
	for _, serial := range []string{"SN1", "SN2", "SN3", "SN4", "SN5", "SN6", "SN7", "SN9"} {
		h.certs.set(serial, true)
	}
	tests := []struct {
		name, serial, reason string // reason "" = served
	}{
		{"symlink to a file outside", "SN1", linkReason},
		{"symlink to a config inside", "SN2", linkReason},
		{"FIFO", "SN3", "a named pipe (FIFO): configs must be regular files in configs_dir"},
		{"directory named like a config", "SN4", "a directory: configs must be regular files in configs_dir"},
		{"hard link", "SN5", ""},
		{"dangling symlink", "SN6", linkReason},
		{"socket", "SN7", "a socket: configs must be regular files in configs_dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, _, err := h.d.Config(tc.serial)
			_, serr := h.d.Sum(tc.serial)
			if tc.reason == "" {
				if err != nil || serr != nil || string(data) != "hostname nine\n" {
					t.Fatalf("Config = %q, %v; Sum: %v", data, err, serr)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) || data != nil {
				t.Errorf("Config = %q, %v; want ErrInvalid: %s", data, err, tc.reason)
			}
			if !errors.Is(serr, ErrInvalid) {
				t.Errorf("Sum: %v, want ErrInvalid", serr)
			}
			if got, ok := h.reason(tc.serial + ".cfg"); !ok || got != tc.reason {
				t.Errorf("config.state invalid reason %q (logged %v), want %q", got, ok, tc.reason)
			}
			for _, s := range h.states(tc.serial) {
				if s != StateInvalid {
					t.Errorf("state %s logged", s)
				}
			}
		})
	}
}

// A symlink dropped in while sealboot runs is reported invalid once it
// settles, with the reason, and never served; a settled config replaced
// by a symlink is not read through it.
func TestSymlinkDroppedInIsRefused(t *testing.T) {
	t.Parallel()
	secret := secretOutside(t)
	h := newHarness(t, time.Millisecond, func(dir string) {
		writeOld(t, filepath.Join(dir, "SN2.cfg"), []byte("hostname two\n"))
	})
	h.certs.set("SN1", true)
	h.certs.set("SN2", true)
	h.run()
	if err := os.Symlink(secret, filepath.Join(h.dir, "SN1.cfg")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SN1.cfg reported invalid", func() bool {
		r, ok := h.reason("SN1.cfg")
		return ok && r == linkReason
	})
	if data, _, err := h.d.Config("SN1"); !errors.Is(err, ErrInvalid) || data != nil {
		t.Fatalf("Config(SN1) = %q, %v", data, err)
	}

	// Replace the settled SN2.cfg by a link to the secret.
	if err := os.Symlink(secret, filepath.Join(h.dir, ".SN2.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.dir, ".SN2.new"), filepath.Join(h.dir, "SN2.cfg")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := h.d.Config("SN2"); err == nil || strings.Contains(string(data), "secret") {
		t.Fatalf("Config(SN2) after the swap = %q, %v", data, err)
	}
	eventually(t, "SN2.cfg reported invalid", func() bool {
		r, ok := h.reason("SN2.cfg")
		return ok && r == linkReason
	})
	for _, serial := range []string{"SN1", "SN2"} {
		if st := h.states(serial); len(st) == 0 || st[len(st)-1] != StateInvalid {
			t.Errorf("%s states %v, want invalid last", serial, st)
		}
	}
}
