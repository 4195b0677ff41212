package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
)

// startupCerts is how many certificates the start-up signal test puts in
// the keystore: reading them takes long enough (≈0.5 s) to signal sealboot
// in the middle of it.
const startupCerts = 20000

// writeCertificates writes n device certificates, SN000000.crt and on,
// into dir with a week-old mtime: one key pair (keystore.GenerateDevice)
// for all, each certificate with its own serial as CN, so that 20,000 take
// seconds. The keystore pins serials to keys: from the second start on, a
// key shared by several serials makes them duplicates of one, so each start
// removes the pins first (keystorePins).
func writeCertificates(t *testing.T, dir string, n int) {
	t.Helper()
	id, err := keystore.GenerateDevice("SN", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-7 * 24 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for w := range runtime.NumCPU() {
		wg.Go(func() {
			for i := w; i < n; i += runtime.NumCPU() {
				if err := writeCertificate(id, dir, fmt.Sprintf("SN%06d", i), old); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

func writeCertificate(id *keystore.DeviceIdentity, dir, serial string, mtime time.Time) error {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: serial},
		SubjectKeyId: id.Cert.SubjectKeyId, NotBefore: id.Cert.NotBefore, NotAfter: id.Cert.NotAfter,
		KeyUsage: id.Cert.KeyUsage, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.Key.Public(), id.Key)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, serial+".crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}

// keystorePins is the keystore's record of which key each serial has.
const keystorePins = ".sealboot-pins"

// mainStarted reports whether the sealboot process pid runs main: started
// with SIGHUP ignored (as under nohup), Go's runtime leaves it ignored
// until main catches it, which /proc shows (SigIgn).
func mainStarted(pid int) (bool, error) {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "sealboot" {
		return false, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && mask&(1<<(syscall.SIGHUP-1)) == 0, err
		}
	}
	return false, errors.New("no SigIgn in /proc status")
}

// has says whether a log line with msg has been seen.
func (d *daemonProc) has(msg string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.lines {
		if s, _ := m["msg"].(string); strings.Contains(s, msg) {
			return true
		}
	}
	return false
}

// count returns how many log lines have msg.
func (d *daemonProc) count(msg string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range d.lines {
		if s, _ := m["msg"].(string); strings.Contains(s, msg) {
			n++
		}
	}
	return n
}

// stopAndWait stops sealboot with SIGTERM and returns how it exited.
// One still running a minute before the test binary's deadline gets
// SIGQUIT, which makes Go write every goroutine's stack to its standard
// error, and the test fails with them.
func (d *daemonProc) stopAndWait(sig syscall.Signal) error {
	d.t.Helper()
	_ = d.cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-d.done:
	case <-d.late:
		_ = d.cmd.Process.Signal(syscall.SIGQUIT)
		d.done <- <-d.done // for the cleanup
		d.mu.Lock()
		defer d.mu.Unlock()
		d.failIfLate("stopped after " + signalName(sig))
	}
	d.done <- err // for the cleanup
	return err
}

// TestServeSignalsDuringStartup: a SIGHUP at any moment from main's first
// line, in the middle of reading 20,000 certificates included, is
// remembered and applied as one reload once sealboot is ready; a SIGTERM or
// SIGINT then stops it cleanly (issue 16 item 6). Before the fix a SIGHUP
// during the scan killed sealboot (exit 129) without a word.
func TestServeSignalsDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 certificates")
	}
	t.Parallel()
	bin := buildSealboot(t)
	keys := t.TempDir()
	writeCertificates(t, keys, startupCerts)

	// When to signal: as main starts (before the configuration is read),
	// as the keystore scan starts (the configs directory is created just
	// before it), or all through the scan.
	tests := []struct {
		name   string
		atMain bool // else as the scan starts
		sig    syscall.Signal
		// throughScan: signal again every few milliseconds until the
		// keystore has been read.
		throughScan bool
	}{
		{name: "SIGHUP as main starts", atMain: true, sig: syscall.SIGHUP},
		{name: "SIGHUP as the scan starts", sig: syscall.SIGHUP},
		{name: "SIGHUP all through the scan", sig: syscall.SIGHUP, throughScan: true},
		{name: "SIGTERM during the scan", sig: syscall.SIGTERM},
		{name: "SIGINT as main starts", atMain: true, sig: syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "sealboot.yaml")
			if err := os.Remove(filepath.Join(keys, keystorePins)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			base := fmt.Sprintf("state_dir: %s\nkeys_dir: %s\nlog:\n  format: json\ntftp:\n  listen: [\"127.0.0.1:%d\"]\n", dir, keys, freeUDPPort(t))
			if err := os.WriteFile(cfgFile, []byte(base), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "serve", "--config", cfgFile)
			if tt.atMain {
				// Start with SIGHUP ignored so that mainStarted can see
				// main begin; a shell passes SIG_IGN on through exec.
				cmd = exec.Command("sh", "-c", `trap "" HUP; exec "$0" "$@"`, bin, "serve", "--config", cfgFile)
			}
			d := startProc(t, cmd)
			if tt.atMain {
				waitMain(t, d)
			} else {
				d.waitForField("created directory", "key", "configs_dir")
				// The file has been read; the reload reads it again.
				if err := os.WriteFile(cfgFile, []byte(base+"watch:\n  settle: 300ms\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_ = d.cmd.Process.Signal(tt.sig)
			sent := 1
			for tt.throughScan && !d.has("keys directory scanned") && !d.has("<exited>") {
				time.Sleep(5 * time.Millisecond) // the next moment
				_ = d.cmd.Process.Signal(tt.sig)
				sent++
			}
			if tt.sig != syscall.SIGHUP {
				checkStoppedDuringStartup(t, d, tt.sig)
				return
			}
			d.waitFor("sealboot ready")
			d.waitFor("reload requested during start-up; applying now")
			if !tt.atMain {
				d.waitForField("changed setting takes effect at the next restart", "key", "watch.settle")
			}
			d.waitFor("configuration reloaded")
			if err := d.stopAndWait(syscall.SIGTERM); err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
			if n := d.count("reload requested during start-up; applying now"); n != 1 {
				t.Fatalf("%d SIGHUPs during start-up: %d deferred reloads, want 1", sent, n)
			}
			// A SIGHUP of the storm may land after ready (the test sees
			// "keys directory scanned" late): a reload of its own.
			if n := d.count("configuration reloaded"); n != 1 && !(tt.throughScan && n == 2) {
				t.Fatalf("%d reloads, want 1", n)
			}
			t.Logf("%d SIGHUP(s) during start-up, applied as one reload", sent)
		})
	}
}

// waitMain polls until sealboot's main has started.
func waitMain(t *testing.T, d *daemonProc) {
	t.Helper()
	for {
		ok, err := mainStarted(d.cmd.Process.Pid)
		if ok {
			return
		}
		if err != nil && d.has("<exited>") || t.Context().Err() != nil {
			t.Fatalf("sealboot did not start: %v", err)
		}
		time.Sleep(time.Millisecond) // poll
	}
}

// checkStoppedDuringStartup checks that sealboot stopped cleanly on sig
// without ever serving.
func checkStoppedDuringStartup(t *testing.T, d *daemonProc, sig syscall.Signal) {
	t.Helper()
	ev := d.waitFor("stop requested during start-up; stopping")
	if ev["signal"] != signalName(sig) {
		t.Errorf("stop logged %v, want signal %s", ev, signalName(sig))
	}
	d.waitFor("sealboot stopped")
	if err := <-d.done; err != nil {
		t.Fatalf("exit after %s during start-up: %v", signalName(sig), err)
	}
	d.done <- nil
	if d.has("sealboot ready") {
		t.Fatal("sealboot served after a stop was requested during start-up")
	}
}
