package cms

import (
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// devices caches one generated identity per key type for the test binary:
// RSA-4096 generation is slow.
var devices = func() map[keystore.KeyType]func() (*keystore.DeviceIdentity, error) {
	m := map[keystore.KeyType]func() (*keystore.DeviceIdentity, error){}
	for _, kt := range keystore.KeyTypes {
		m[kt] = sync.OnceValues(func() (*keystore.DeviceIdentity, error) { return keystore.GenerateDevice("SN-"+string(kt), kt) })
	}
	return m
}()

func device(t testing.TB, kt keystore.KeyType) *keystore.DeviceIdentity {
	t.Helper()
	id, err := devices[kt]()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testKeyTypes are the key types the matrix tests cover.
var testKeyTypes = []keystore.KeyType{keystore.RSA2048, keystore.RSA4096, keystore.P256, keystore.P384, keystore.P521}

var allCiphers = []Cipher{AES128CBC, AES192CBC, AES256CBC, AES128GCM, AES256GCM}

// sampleConfig looks like a router config with a secret in it.
var sampleConfig = []byte("hostname pe1.pop1\nradius-server host 192.0.2.10 key 7 s3cr3t\ntacacs-server key t4c4cs\n!\nend\n")

// writeIdentity writes a device's key (0600) and certificate for openssl.
func writeIdentity(t *testing.T, id *keystore.DeviceIdentity) (key, cert string) {
	t.Helper()
	dir := t.TempDir()
	key, cert = filepath.Join(dir, "dev.key"), filepath.Join(dir, "dev.crt")
	if err := os.WriteFile(key, id.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, id.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
}

func bigOne() *big.Int { return big.NewInt(1) }

func x509Name(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
