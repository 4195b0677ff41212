package appliance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

var secret = []byte("radius-server host 192.0.2.10 key 7 APPLIANCE-SECRET\n")

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// What `openssl cms -encrypt` seals to the appliance certificate (as the
// central side does) opens with the appliance key, RSA (PKCS#1 v1.5 and
// OAEP) and EC, CBC and GCM.
func TestLoadAndOpenWhatOpenSSLSealed(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	t.Parallel()
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256, keystore.P384} {
		id, err := Generate("pop1-a", kt)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		keyPath := write(t, dir, "appliance.key", id.KeyPEM)
		certPath := write(t, dir, "appliance.crt", id.CertPEM)
		a, err := Load(keyPath, certPath)
		if err != nil {
			t.Fatal(err)
		}
		in := write(t, dir, "SN1.cfg", secret)
		variants := [][]string{{"-aes256"}, {"-aes-256-gcm", "-keyid"}}
		if strings.HasPrefix(string(kt), "rsa") {
			variants = append(variants, []string{"-aes128", "-recip", certPath, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"})
		}
		for _, v := range variants {
			args := append([]string{"cms", "-encrypt", "-binary", "-in", in, "-outform", "PEM"}, v...)
			if !bytes.Contains([]byte(strings.Join(v, " ")), []byte("-recip")) {
				args = append(args, "-recip", certPath)
			}
			enc, err := exec.Command("openssl", args...).Output()
			if err != nil {
				t.Fatalf("%s %v: %v", kt, v, err)
			}
			got, err := a.Open(enc)
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("%s %v: Open = %q, %v", kt, v, got, err)
			}
		}
	}
}

func TestLoadRefusesAMismatchedPair(t *testing.T) {
	t.Parallel()
	a, _ := Generate("a", keystore.P256)
	b, _ := Generate("b", keystore.P256)
	dir := t.TempDir()
	_, err := Load(write(t, dir, "k", a.KeyPEM), write(t, dir, "c", b.CertPEM))
	if err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("Load of a mismatched pair: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none"), write(t, dir, "c2", b.CertPEM)); err == nil {
		t.Fatal("Load of a missing key succeeded")
	}
	if _, err := Generate("", keystore.P256); err == nil {
		t.Fatal("Generate with no name succeeded")
	}
}
