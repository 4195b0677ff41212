package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// TestKeysUsesTheConfiguration (issue 14 items 4 and 5): keys reads
// keys_dir and the vendor directory (fetch_url, fetch_ca, fetch_headers)
// from --config; fetch takes a purchase order's list of serials from a
// file or standard input; certificates come as vendors ship them (with
// their chain, as a .p7b made by openssl) and the chain is kept.
func TestKeysUsesTheConfiguration(t *testing.T) {
	t.Parallel()
	v := newVendorDirectory(t)
	root, err := keystore.GenerateAuthority("Vendor Root", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("Vendor IDevID CA", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"SN-PO1", "SN-PO2", "SN-PO3", "SN-PO4"} {
		_, data := shipped(t, inter, s, i)
		v.publish("/certs/"+s+".pem", data)
	}
	_, liar := shipped(t, inter, "SN-PO9", 0)
	v.publish("/certs/SN-LIAR.pem", liar)
	dir := t.TempDir()
	keysDir, token := filepath.Join(dir, "keys"), filepath.Join(dir, "token")
	_ = os.Mkdir(keysDir, 0o750)
	_ = os.WriteFile(token, []byte("Bearer "+v.token+"\n"), 0o600)
	cfg := filepath.Join(dir, "sealboot.yaml")
	_ = os.WriteFile(cfg, fmt.Appendf(nil, `keys_dir: %s
keystore:
  fetch_url: "%s/certs/{serial}.pem"
  fetch_ca: %s
  fetch_headers:
    - name: Authorization
      file: %s
`, keysDir, v.srv.URL, v.caFile, token), 0o600)
	list := filepath.Join(dir, "purchase-order.txt")
	_ = os.WriteFile(list, []byte("# PO 4711\nSN-PO1\n\n  SN-PO2\nSN-PO3\n"), 0o644)

	code, out, e := runCLI(t, nil, "keys", "--config", cfg, "fetch", "--from-file", list)
	if code != 0 || strings.Count(out, "fetched SN-PO") != 3 {
		t.Fatalf("fetch --from-file: exit %d\n%s%s", code, out, e)
	}
	code, out, e = runCLI(t, []byte("SN-PO4\n"), "keys", "-c", cfg, "fetch", "--from-file", "-")
	if code != 0 || !strings.Contains(out, "fetched SN-PO4") {
		t.Fatalf("fetch --from-file -: exit %d\n%s%s", code, out, e)
	}
	code, out, _ = runCLI(t, nil, "keys", "-c", cfg, "list")
	if code != 0 || strings.Count(out, ".crt\n") != 4 {
		t.Fatalf("list: %s", out)
	}
	// SN-PO2 came with its intermediate, SN-PO3 as a PKCS#7 bundle.
	for _, s := range []string{"SN-PO2", "SN-PO3"} {
		if code, out, e := runCLI(t, nil, "keys", "-c", cfg, "show", s); code != 0 || !strings.Contains(out, "chain:       CN=Vendor IDevID CA") {
			t.Errorf("show %s: exit %d\n%s%s", s, code, out, e)
		}
	}
	code, _, e = runCLI(t, nil, "keys", "-c", cfg, "fetch", "SN-LIAR")
	if code != exitFailure || !strings.Contains(e, `the certificate is for serial "SN-PO9"`) {
		t.Fatalf("another serial's certificate: exit %d, %s", code, e)
	}
	if strings.Contains(e, v.token) {
		t.Fatal("the token is printed")
	}
	code, _, e = runCLI(t, nil, "keys", "-c", cfg, "fetch", "--from-file", list, "--url", "https://127.0.0.1:1/{serial}")
	if code != exitFailure || strings.Count(e, "sealboot keys fetch SN-PO") != 3 {
		t.Fatalf("--url overrides fetch_url: exit %d, %s", code, e)
	}
	bad := filepath.Join(dir, "bad.txt")
	_ = os.WriteFile(bad, []byte("SN-1\n../etc\n"), 0o644)
	if code, _, e := runCLI(t, nil, "keys", "-c", cfg, "fetch", "--from-file", bad); code != exitFailure || !strings.Contains(e, "line 2") {
		t.Fatalf("a bad list: exit %d, %s", code, e)
	}
	noURL := filepath.Join(dir, "nourl.yaml")
	_ = os.WriteFile(noURL, fmt.Appendf(nil, "keys_dir: %s\n", keysDir), 0o600)
	if code, _, e := runCLI(t, nil, "keys", "-c", noURL, "fetch", "SN-1"); code != exitUsage || !strings.Contains(e, "keystore.fetch_url") {
		t.Fatalf("no fetch_url: exit %d, %s", code, e)
	}
}

// TestKeysImportsWhatVendorsShip: a .p7b made by `openssl crl2pkcs7`
// (DER and PEM), a PEM chain, and a directory of them, in one call.
func TestKeysImportsWhatVendorsShip(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	t.Parallel()
	root, err := keystore.GenerateAuthority("Vendor Root", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("Vendor IDevID CA", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	dir, keysDir := t.TempDir(), t.TempDir()
	ship := filepath.Join(dir, "shipment")
	_ = os.Mkdir(ship, 0o755)
	for i, s := range []string{"SN-V1", "SN-V2", "SN-V3"} {
		id, err := inter.Issue(s, keystore.P256, keystore.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chain := filepath.Join(dir, s+"-chain.pem")
		_ = os.WriteFile(chain, append(append(append([]byte{}, root.CertPEM...), id.CertPEM...), inter.CertPEM...), 0o644)
		out := filepath.Join(ship, s+".pem")
		args := []string{"crl2pkcs7", "-nocrl", "-certfile", chain, "-out", out}
		switch i {
		case 0:
			args = append(args, "-outform", "DER")
			out = filepath.Join(ship, s+".p7b")
			args[len(args)-3] = out
		case 2: // the PEM chain as it is
			args = nil
			_ = os.Rename(chain, out)
		}
		if args != nil {
			if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, b)
			}
		}
	}
	_ = os.WriteFile(filepath.Join(ship, ".DS_Store"), []byte("junk"), 0o644)
	code, out, e := runCLI(t, nil, "keys", "--dir", keysDir, "import", ship)
	if code != 0 || strings.Count(out, "imported SN-V") != 3 {
		t.Fatalf("import DIR: exit %d\n%s%s", code, out, e)
	}
	code, out, _ = runCLI(t, nil, "keys", "--dir", keysDir, "show", "SN-V1")
	if code != 0 || !strings.Contains(out, "chain:       CN=Vendor IDevID CA\nchain:       CN=Vendor Root\n") {
		t.Fatalf("show: %s", out)
	}
	// What keys wrote, openssl reads: the device's certificate first.
	b, err := exec.Command("openssl", "x509", "-noout", "-subject", "-in", filepath.Join(keysDir, "SN-V1.crt")).Output()
	if err != nil || !strings.Contains(string(b), "SN-V1") {
		t.Fatalf("openssl x509: %v %s", err, b)
	}
}

// TestCheckFetchSettings: sealboot check names the keystore.fetch_* key
// that is wrong, and the files serve would fail to read.
func TestCheckFetchSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name, yaml string
		code       int
		want       []string
	}{
		{"invalid", `keystore:
  fetch_url: "https://certs.example/{serial}"
  fetch_retry_min: 1m
  fetch_retry_max: 10s
  fetch_concurrency: 0
  fetch_headers:
    - name: "Bad Name"
      file: token
      credential: token
`, exitFailure, []string{
			"keystore.fetch_retry_max: 10s is less than keystore.fetch_retry_min (1m0s)",
			"keystore.fetch_concurrency: must be at least 1",
			`keystore.fetch_headers[0].name: invalid header name "Bad Name"`,
			"keystore.fetch_headers[0]: give the value's file or its credential (one of them)",
		}},
		{"files missing", `keystore:
  fetch_url: "https://certs.example/{serial}"
  fetch_ca: /nonexistent/ca.pem
`, exitFailure, []string{".yaml:3: keystore.fetch_ca: /nonexistent/ca.pem: stat"}},
		{"no credentials directory", `keystore:
  fetch_url: "https://certs.example/{serial}"
  fetch_headers:
    - name: Authorization
      credential: vendor-token
`, exitFailure, []string{`keystore.fetch_headers[0] (Authorization): credential "vendor-token": $CREDENTIALS_DIRECTORY is not set`}},
	} {
		f := filepath.Join(dir, tt.name+".yaml")
		_ = os.WriteFile(f, []byte(tt.yaml), 0o600)
		code, _, e := runCLI(t, nil, "check", "--config", f)
		for _, w := range tt.want {
			if code != tt.code || !strings.Contains(e, w) {
				t.Errorf("%s: exit %d, stderr:\n%s\nwant %d and %q", tt.name, code, e, tt.code, w)
			}
		}
	}
}
