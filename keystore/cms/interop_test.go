package cms

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

func runOpenSSL(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// What Seal writes opens with `openssl cms -decrypt`, and for RSA with
// PKCS#1 v1.5 and CBC with `openssl smime -decrypt` too.
func TestInteropSealThenOpenSSLDecrypts(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	for _, kt := range testKeyTypes {
		isRSA := strings.HasPrefix(string(kt), "rsa")
		for _, c := range allCiphers {
			variants := []Options{{Cipher: c}, {Cipher: c, DER: true}}
			if isRSA {
				variants = append(variants, Options{Cipher: c, OAEP: true})
			} else {
				variants = append(variants, Options{Cipher: c, KDF: KDFSHA1})
			}
			for _, opts := range variants {
				t.Run(fmt.Sprintf("%s/%s/der=%v/oaep=%v/kdf=%s", kt, c, opts.DER, opts.OAEP, opts.KDF), func(t *testing.T) {
					t.Parallel()
					id := device(t, kt)
					key, cert := writeIdentity(t, id)
					sealed, err := Seal(id.Cert, sampleConfig, opts)
					if err != nil {
						t.Fatal(err)
					}
					form := "PEM"
					if opts.DER {
						form = "DER"
					}
					got := runOpenSSL(t, sealed, "cms", "-decrypt", "-binary", "-inform", form, "-recip", cert, "-inkey", key)
					if !bytes.Equal(got, sampleConfig) {
						t.Fatalf("openssl cms -decrypt gave %q", got)
					}
					if isRSA && !opts.OAEP && !strings.HasSuffix(string(c), "gcm") {
						got := runOpenSSL(t, sealed, "smime", "-decrypt", "-binary", "-inform", form, "-recip", cert, "-inkey", key)
						if !bytes.Equal(got, sampleConfig) {
							t.Fatalf("openssl smime -decrypt gave %q", got)
						}
					}
				})
			}
		}
	}
}

// What `openssl cms -encrypt` and `openssl smime -encrypt` write opens
// with Open.
func TestInteropOpenSSLEncryptsThenOpen(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	type variant struct {
		name string
		args []string
		opts []string // -keyopt values, which openssl wants after -recip
		rsa  bool     // RSA recipients only
		ec   bool     // EC recipients only
	}
	variants := []variant{
		{name: "cms aes256 pem", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM"}},
		{name: "cms aes128 der", args: []string{"cms", "-encrypt", "-binary", "-aes128", "-outform", "DER"}},
		{name: "cms aes192", args: []string{"cms", "-encrypt", "-binary", "-aes192", "-outform", "PEM"}},
		{name: "cms aes-128-gcm", args: []string{"cms", "-encrypt", "-binary", "-aes-128-gcm", "-outform", "PEM"}},
		{name: "cms aes-256-gcm der", args: []string{"cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER"}},
		{name: "cms default 3des", args: []string{"cms", "-encrypt", "-binary", "-outform", "PEM"}},
		{name: "cms stream ber", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-stream", "-outform", "DER"}},
		{name: "cms stream pem", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-stream", "-outform", "PEM"}},
		{name: "cms smime format", args: []string{"cms", "-encrypt", "-binary", "-aes256"}},
		{name: "cms keyid", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-keyid", "-outform", "PEM"}},
		{name: "cms oaep sha1", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM"}, opts: []string{"rsa_padding_mode:oaep"}, rsa: true},
		{name: "cms oaep sha256", args: []string{"cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM"}, opts: []string{"rsa_padding_mode:oaep", "rsa_oaep_md:sha256"}, rsa: true},
		{name: "smime aes256 pem", args: []string{"smime", "-encrypt", "-binary", "-aes256", "-outform", "PEM"}, rsa: true},
		{name: "smime default", args: []string{"smime", "-encrypt", "-binary"}, rsa: true},
	}
	for _, md := range []string{"sha1", "sha224", "sha256", "sha384", "sha512"} {
		variants = append(variants, variant{name: "cms ecdh kdf " + md, ec: true,
			args: []string{"cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM"}, opts: []string{"ecdh_kdf_md:" + md}})
	}
	variants = append(variants, variant{name: "cms ecdh cofactor", ec: true,
		args: []string{"cms", "-encrypt", "-binary", "-aes128", "-outform", "PEM"}, opts: []string{"ecdh_cofactor_mode:1"}})
	for _, kt := range testKeyTypes {
		isRSA := strings.HasPrefix(string(kt), "rsa")
		for _, v := range variants {
			if (v.rsa && !isRSA) || (v.ec && isRSA) {
				continue
			}
			t.Run(string(kt)+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				id := device(t, kt)
				_, cert := writeIdentity(t, id)
				args := append(append([]string{}, v.args...), "-recip", cert)
				if v.args[0] == "smime" { // smime takes the certificate as an operand
					args = append(append([]string{}, v.args...), cert)
				}
				for _, o := range v.opts {
					args = append(args, "-keyopt", o)
				}
				enc := runOpenSSL(t, sampleConfig, args...)
				if !IsEnvelope(enc) && !strings.Contains(v.name, "smime") {
					t.Errorf("IsEnvelope is false for openssl's output")
				}
				got, err := Open(id.Key, enc)
				if err != nil || !bytes.Equal(got, sampleConfig) {
					t.Fatalf("Open: %v, %q", err, got)
				}
			})
		}
	}
}

// Without -binary OpenSSL encrypts text in canonical MIME form: LF becomes
// CRLF. Open returns exactly what was encrypted; a device must accept both.
func TestInteropOpenSSLWithoutBinaryConvertsLineEnds(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	id := device(t, keystore.P256)
	_, cert := writeIdentity(t, id)
	enc := runOpenSSL(t, sampleConfig, "cms", "-encrypt", "-aes256", "-outform", "PEM", cert)
	got, err := Open(id.Key, enc)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.ReplaceAll(sampleConfig, []byte("\n"), []byte("\r\n")); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want the CRLF form %q", got, want)
	}
}

// Keys as openssl writes them parse, and open what was sealed to them.
func TestParsePrivateKeyFromOpenSSL(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	tests := []struct {
		name string
		gen  [][]string // commands; KEY is replaced by the key path
	}{
		{"ecparam -genkey (EC PARAMETERS block + SEC 1)", [][]string{{"ecparam", "-genkey", "-name", "prime256v1", "-out", "KEY"}}},
		{"ecparam -genkey -noout (SEC 1)", [][]string{{"ecparam", "-genkey", "-noout", "-name", "secp384r1", "-out", "KEY"}}},
		{"genpkey ec (PKCS#8)", [][]string{{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", "KEY"}}},
		{"genpkey rsa (PKCS#8)", [][]string{{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "KEY"}}},
		{"genrsa -traditional (PKCS#1)", [][]string{{"genrsa", "-traditional", "-out", "KEY", "2048"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyPath, certPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
			for _, argv := range tt.gen {
				for i := range argv {
					argv[i] = strings.ReplaceAll(argv[i], "KEY", keyPath)
				}
				runOpenSSL(t, nil, argv...)
			}
			runOpenSSL(t, nil, "req", "-new", "-x509", "-key", keyPath, "-subj", "/CN=SN-OPENSSL", "-days", "365", "-out", certPath)
			keyPEM, _ := os.ReadFile(keyPath)
			key, err := ParsePrivateKey(keyPEM)
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v\n%s", err, keyPEM[:40])
			}
			enc := runOpenSSL(t, sampleConfig, "cms", "-encrypt", "-binary", "-aes256", "-outform", "PEM", certPath)
			if got, err := Open(key, enc); err != nil || !bytes.Equal(got, sampleConfig) {
				t.Fatalf("Open with parsed key: %v", err)
			}
		})
	}
}

func TestParsePrivateKeyRefusesEncryptedKey(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	dir := t.TempDir()
	k := filepath.Join(dir, "k.pem")
	runOpenSSL(t, nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:x", "-out", k)
	pemData, _ := os.ReadFile(k)
	if _, err := ParsePrivateKey(pemData); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("got %v, want an error saying the key is encrypted", err)
	}
}
