package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeHTTP: with http.listen set, serve names the HTTP server in its
// ready line, serves a sealed config and an image to curl (ETag = the
// logged SHA-256), and on SIGHUP applies the HTTP limits while saying that
// a new listen address waits for a restart.
func TestServeHTTP(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	dir := t.TempDir()
	port := freeTCPPort(t)
	cfgFile := filepath.Join(dir, "sealboot.yaml")
	good := fmt.Sprintf("state_dir: %s\nwatch:\n  settle: 50ms\ntftp:\n  listen: [\"127.0.0.1:%d\"]\nhttp:\n  listen: [\"127.0.0.1:%d\"]\n", dir, freeUDPPort(t), port)
	if err := os.WriteFile(cfgFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, nil, "--config", cfgFile)
	ready := d.waitFor("sealboot ready")
	if want := fmt.Sprintf("http 127.0.0.1:%d", port); !strings.Contains(fmt.Sprint(ready["listen"]), want) {
		t.Fatalf("ready line %v lacks %q", ready["listen"], want)
	}
	if fi, err := os.Stat(filepath.Join(dir, "images")); err != nil || !fi.IsDir() {
		t.Fatalf("images_dir not created: %v", err)
	}
	id, err := keystore.GenerateDevice("SN42", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "keys", "SN42.crt"), id.CertPEM, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "configs", "SN42.cfg"), []byte("hostname r42\n"), 0o600)
	image := []byte(strings.Repeat("image bytes ", 1000))
	_ = os.WriteFile(filepath.Join(dir, "images", "os-1.2.bin"), image, 0o644)
	d.waitFor("config ready")
	logged := d.waitForField("image ready", "file", "os-1.2.bin")
	sum := sha256.Sum256(image)
	if logged["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("logged %v", logged)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--fail"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}
	if plain, err := cms.Open(id.Key, []byte(curl(base+"/SN42.enc"))); err != nil || string(plain) != "hostname r42\n" {
		t.Fatalf("open: %v %q", err, plain)
	}
	if got := curl(base + "/images/os-1.2.bin"); got != string(image) {
		t.Fatalf("image: %d bytes", len(got))
	}
	if hdr := curl("-I", base+"/images/os-1.2.bin"); !strings.Contains(strings.ToLower(hdr), `etag: "`+hex.EncodeToString(sum[:])+`"`) {
		t.Fatalf("headers:\n%s", hdr)
	}
	d.waitForField("http fetch served", "file", "/SN42.enc")

	moved := strings.Replace(good, fmt.Sprint(port), fmt.Sprint(freeTCPPort(t)), 1)
	_ = os.WriteFile(cfgFile, []byte(moved+"  max_per_client: 2\n"), 0o600)
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitForField("takes effect at the next restart", "key", "http.listen")
	d.waitFor("configuration reloaded")
	if got := curl(base + "/images/os-1.2.bin"); got != string(image) {
		t.Fatal("not serving on the running address after the reload")
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitFor("sealboot stopped")
	if err := <-d.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	d.done <- nil
}

// TestCheckHTTP: sealboot check names the HTTP key that is wrong.
func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "http.yaml")
	_ = os.WriteFile(f, []byte("http:\n  listen: [\"0.0.0.0:80\", \"80\"]\n  tls_cert: /nonexistent.crt\n"), 0o600)
	code, out, e := runCLI(t, nil, "check", "--config", f)
	for _, want := range []string{`http.listen[1]: invalid address "80"`, "http.tls_key: needed with http.tls_cert"} {
		if code != exitFailure || !strings.Contains(e, want) || out != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, e, want)
		}
	}
}
