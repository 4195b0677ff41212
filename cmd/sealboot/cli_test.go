package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
)

// runCLI runs sealboot in process with stdin and returns the exit code and
// what it wrote.
func runCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, stdio{in: bytes.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func writeDevice(t *testing.T, dir, serial string, kt keystore.KeyType) (key, cert string) {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	key, cert = filepath.Join(dir, serial+".key"), filepath.Join(dir, serial+".crt")
	if err := os.WriteFile(key, id.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, id.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func TestSealOpenCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := []byte("hostname r1\nradius key s3cr3t\n")
	for _, kt := range []keystore.KeyType{keystore.P256, keystore.RSA2048} {
		for _, extra := range [][]string{nil, {"--der"}, {"--cipher", "aes128-gcm"}} {
			name := string(kt) + strings.Join(extra, "")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				key, cert := writeDevice(t, t.TempDir(), "SN-"+string(kt), kt)
				enc := filepath.Join(dir, name+".enc")
				if code, _, e := runCLI(t, config, append([]string{"seal", "--cert", cert, "--out", enc}, extra...)...); code != 0 {
					t.Fatalf("seal: %d %s", code, e)
				}
				code, out, e := runCLI(t, nil, "open", "--key", key, "--in", enc)
				if code != 0 || out != string(config) {
					t.Fatalf("open: %d %q %s", code, out, e)
				}
				plain := filepath.Join(dir, name+".cfg")
				if code, _, e := runCLI(t, nil, "open", "--key", key, "--in", enc, "--out", plain); code != 0 {
					t.Fatalf("open --out: %d %s", code, e)
				}
				if fi, err := os.Stat(plain); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("decrypted file mode: %v %v", fi.Mode(), err)
				}
			})
		}
	}
}

func TestSealOpenCLIErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, cert := writeDevice(t, dir, "SN-A", keystore.P256)
	otherKey, _ := writeDevice(t, dir, "SN-B", keystore.P256)
	enc := filepath.Join(dir, "a.enc")
	if code, _, e := runCLI(t, []byte("cfg\n"), "seal", "--cert", cert, "--out", enc); code != 0 {
		t.Fatal(e)
	}
	out := filepath.Join(dir, "never-written")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"seal without cert", []string{"seal"}, exitUsage, "--cert is required"},
		{"seal missing cert file", []string{"seal", "--cert", filepath.Join(dir, "none.crt"), "--out", out}, exitFailure, "no such file"},
		{"seal key instead of cert", []string{"seal", "--cert", key, "--out", out}, exitFailure, "no certificate found"},
		{"seal bad cipher", []string{"seal", "--cert", cert, "--cipher", "rc4", "--out", out}, exitFailure, `unknown cipher "rc4"`},
		{"open wrong key", []string{"open", "--key", otherKey, "--in", enc, "--out", out}, exitFailure, "decryption failed"},
		{"open plaintext", []string{"open", "--key", key, "--in", cert, "--out", out}, exitFailure, "not a CMS message"},
		{"open cert as key", []string{"open", "--key", cert, "--in", enc, "--out", out}, exitFailure, "no private key found"},
		{"unknown flag", []string{"open", "--kye", key}, exitUsage, "unknown flag: --kye"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, e := runCLI(t, []byte("cfg\n"), tt.args...)
			if code != tt.code || !strings.Contains(e, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, e, tt.code, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatal("a failed command left an output file")
			}
		})
	}
}

func TestKeysCLI(t *testing.T) {
	t.Parallel()
	dir, ks := t.TempDir(), t.TempDir()
	_, cert := writeDevice(t, dir, "SN-K", keystore.P256)
	_, other := writeDevice(t, filepath.Join(dir), "SN-K2", keystore.RSA2048)
	_, rekeyed := writeDevice(t, t.TempDir(), "SN-K", keystore.P256) // another key for SN-K
	dropRekeyed := func() {
		data, _ := os.ReadFile(rekeyed)
		if err := os.WriteFile(filepath.Join(ks, "SN-K-new.crt"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		_ = os.Chtimes(filepath.Join(ks, "SN-K-new.crt"), old, old)
	}
	steps := []struct {
		before func()

		args []string
		code int
		want string
	}{
		{nil, []string{"keys", "--dir", ks, "import", cert}, 0, "imported SN-K P-256"},
		{nil, []string{"keys", "--dir", ks, "list"}, 0, "SN-K  "},
		// Flags before the subcommand, as keys accepted them before it had subcommands.
		{nil, []string{"keys", "--dir", ks, "--json", "list"}, 0, `"serial": "SN-K"`},
		{nil, []string{"keys", "--dir", ks, "--serial", "SN-K", "import", cert}, 0, "imported SN-K P-256"},
		// A file whose key is not SN-K's pinned one is listed as refused.
		{dropRekeyed, []string{"keys", "--dir", ks, "list"}, 0, "SN-K-new.crt  refused  SN-K"},
		{nil, []string{"keys", "--dir", ks, "import", other, "--serial", "SN-K"}, 1, "is pinned to key"},
		{nil, []string{"keys", "--dir", ks, "import", other, "--serial", "SN-K", "--replace"}, 0, "imported SN-K RSA-2048"},
		{nil, []string{"keys", "--dir", ks, "show", "SN-K", "--json"}, 0, `"key_type": "RSA-2048"`},
		{nil, []string{"keys", "--dir", ks, "fetch", "SN-X", "--url", "http://certs.example/{serial}"}, 1, "must use https"},
		{nil, []string{"keys", "--dir", ks, "remove", "SN-K"}, 0, "removed SN-K RSA-2048"},
		{nil, []string{"keys", "--dir", ks, "remove", "SN-K"}, 1, "sealboot keys remove SN-K: no certificate for this serial"},
		{nil, []string{"keys", "--dir", ks, "show", "SN-K"}, 1, "no usable certificate for serial SN-K"},
		{nil, []string{"keys", "--dir", ks, "frobnicate"}, exitUsage, `sealboot keys: unknown command "frobnicate" for "sealboot keys"`},
		{nil, []string{"keys", "--dir", ks}, exitUsage, "sealboot keys: missing command (appliance, fetch, import, list, remove, show)"},
		{nil, []string{"keys", "list"}, exitUsage, "sealboot keys list: --dir or --config is required"},
		{nil, []string{"keys", "--dir", filepath.Join(ks, "missing"), "list"}, 1, "sealboot keys list: keys directory"},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		code, out, e := runCLI(t, nil, s.args...)
		if code != s.code || !strings.Contains(out+e, s.want) {
			t.Fatalf("%v: exit %d\nstdout %s\nstderr %s\nwant %d and %q", s.args, code, out, e, s.code, s.want)
		}
	}
}

func TestHelpOnEverySubcommand(t *testing.T) {
	t.Parallel()
	for _, c := range newRootCmd(stdio{}).Commands() {
		if c.Name() == "help" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{{c.Name(), "--help"}, {"help", c.Name()}} {
				code, o, e := runCLI(t, nil, args...)
				if code != 0 || !strings.Contains(o, "Examples:") || !strings.Contains(o, "sealboot "+c.Name()) || e != "" {
					t.Fatalf("%v: exit %d, want the help on standard output as sealboot --help does\nstdout:\n%s\nstderr:\n%s", args, code, o, e)
				}
			}
		})
	}
}

// TestAppendixA runs RFC 8886 Appendix A from the shell with the real
// openssl and the built sealboot binary, in both roles.
func TestAppendixA(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	script, _ := filepath.Abs("testdata/appendix_a.sh")
	for _, kind := range []string{"ec", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("bash", script, bin, kind)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// buildSealboot builds the binary once per test and returns its path.
func buildSealboot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sealboot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestDeviceFleetRefusesSingleDeviceFlags(t *testing.T) {
	for _, extra := range [][]string{{"--v6"}, {"--install", "x.cfg"}, {"--serial", "SN1"}} {
		args := append([]string{"device", "boot", "--count", "2", "--keys-dir", t.TempDir(), "--iface", "lo"}, extra...)
		code, _, stderr := runCLI(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, "--count boots a DHCPv4 fleet") {
			t.Errorf("%v: exit %d, %q", extra, code, stderr)
		}
	}
}

func TestDeviceResultsIsForFleets(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "device", "boot", "--serial", "SN1", "--key", "k", "--iface", "lo", "--results", filepath.Join(t.TempDir(), "r.json"))
	if code != exitUsage || !strings.Contains(stderr, "--results is for a fleet") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// TestKeysListFileNamesAreInert: a file dropped into keys_dir by a careless
// or hostile tool may be named with an escape sequence or a newline; keys
// list prints such names with those characters as '?', not obeyed.
// keys list/show --json keep text as it is (a certificate's subject, a
// file name), with the control characters encoding/json leaves raw (C1,
// bidirectional overrides) as \u escapes.
func TestWriteJSONInert(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	v := map[string]string{"subject": "O=Evil\u009b2J\u202eCorp,CN=SN1", "file": "a\x1bb.crt"}
	if err := writeJSON(v, stdio{out: &out}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && unsafeRune(r) }) {
		t.Fatalf("control characters in the JSON:\n%q", out.String())
	}
	var back map[string]string
	if err := json.Unmarshal([]byte(out.String()), &back); err != nil || back["subject"] != v["subject"] || back["file"] != v["file"] {
		t.Fatalf("not the same text back (%v): %q", err, back)
	}
}

func TestKeysListFileNamesAreInert(t *testing.T) {
	t.Parallel()
	dir, ks := t.TempDir(), t.TempDir()
	_, cert := writeDevice(t, dir, "SN-E", keystore.P256)
	if code, out, e := runCLI(t, nil, "keys", "--dir", ks, "import", cert); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, e)
	}
	data, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	name := "copy\x1b]0;owned\x07\x1b[2J\nSN-FORGED.crt"
	if err := os.WriteFile(filepath.Join(ks, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, e := runCLI(t, nil, "keys", "--dir", ks, "list")
	if code != 0 || !strings.Contains(out, "copy?]0;owned??[2J?SN-FORGED.crt") {
		t.Fatalf("exit %d; the duplicate's name is not shown with '?' for its controls:\n%q\n%s", code, out, e)
	}
	if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(out, "\nSN-FORGED") {
		t.Errorf("keys list printed a file name's control characters:\n%q", out)
	}
}
