package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore/appliance"
	"github.com/sealboot/sealboot/keystore/cms"
)

// keys appliance init writes the key 0600 and the certificate, prints the
// certificate, never overwrites a key without --force; check reads the
// pair a configuration names and fails on one that does not load.
func TestKeysApplianceInitAndCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "appliance.key"), filepath.Join(dir, "appliance.crt")
	code, out, e := runCLI(t, nil, "keys", "appliance", "init", "--key", key, "--cert", cert, "--name", "pop1-a")
	if code != 0 || !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") || !strings.Contains(e, "fingerprint ") {
		t.Fatalf("init: exit %d\n%s\n%s", code, out, e)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(cert); string(data) != out {
		t.Fatal("the printed certificate is not the one written")
	}
	app, err := appliance.Load(key, cert)
	if err != nil || app.Certificate().Subject.CommonName != "pop1-a" {
		t.Fatalf("load: %v", err)
	}
	if _, err := cms.ParsePrivateKey([]byte(out)); err == nil {
		t.Fatal("the private key was printed")
	}
	if code, _, e := runCLI(t, nil, "keys", "appliance", "init", "--key", key, "--cert", cert); code != 1 || !strings.Contains(e, "give --force") {
		t.Fatalf("init over an existing key: exit %d %s", code, e)
	}
	if code, _, e := runCLI(t, nil, "keys", "appliance", "init", "--key", key); code != exitUsage || !strings.Contains(e, "--key and --cert are required") {
		t.Fatalf("init without --cert: exit %d %s", code, e)
	}

	other := filepath.Join(dir, "other.crt")
	if code, _, e := runCLI(t, nil, "keys", "appliance", "init", "--key", filepath.Join(dir, "other.key"), "--cert", other); code != 0 {
		t.Fatal(e)
	}
	for _, tc := range []struct {
		name, yaml string
		code       int
		want       string
	}{
		{"pair", "appliance_key: " + key + "\nappliance_cert: " + cert + "\n", 0, "OK"},
		{"mismatched pair", "appliance_key: " + key + "\nappliance_cert: " + other + "\n", 1, "appliance_key: appliance key and certificate do not match"},
		{"missing key", "appliance_key: " + key + ".gone\nappliance_cert: " + cert + "\n", 1, "missing-key.yaml:1: appliance_key: " + key + ".gone: stat"},
		{"key alone", "appliance_key: " + key + "\n", 1, "appliance_cert: appliance_key and appliance_cert go together"},
		{"same extensions", "watch:\n  presealed_extension: .cfg\n", 1, `watch.presealed_extension: ".cfg" is watch.extension already`},
		{"bad extension", "watch:\n  appliance_extension: cms\n", 1, `watch.appliance_extension: invalid extension "cms"`},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, e := runCLI(t, nil, "check", "--config", f)
		if code != tc.code || !strings.Contains(out+e, tc.want) {
			t.Errorf("%s: exit %d\n%s%s\nwant %d and %q", tc.name, code, out, e, tc.code, tc.want)
		}
	}
}
