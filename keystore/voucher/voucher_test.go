package voucher

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// world is a test MASA (a root and a signing certificate under it), an
// owner CA with an owner certificate, and a stranger owner.
type world struct {
	masaRoot, masa    *keystore.Authority
	ownerCA           *keystore.Authority
	owner, stranger   *keystore.DeviceIdentity
	masaPool          *x509.CertPool
	masaSigner        *keystore.DeviceIdentity
	ownerSelfSigned   *keystore.DeviceIdentity
	createdOn, expire time.Time
}

var testWorld = sync.OnceValues(func() (*world, error) {
	w := &world{createdOn: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), expire: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)}
	var err error
	if w.masaRoot, err = keystore.GenerateAuthority("Vendor MASA Root", keystore.P256); err != nil {
		return nil, err
	}
	if w.masa, err = w.masaRoot.IssueCA("Vendor MASA Issuing", keystore.P256); err != nil {
		return nil, err
	}
	if w.masaSigner, err = w.masa.Issue("MASA-SIGNER", keystore.P256, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	if w.ownerCA, err = keystore.GenerateAuthority("Owner CA", keystore.P256); err != nil {
		return nil, err
	}
	if w.owner, err = w.ownerCA.Issue("OWNER", keystore.RSA2048, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	other, err := keystore.GenerateAuthority("Other Owner CA", keystore.P256)
	if err != nil {
		return nil, err
	}
	if w.stranger, err = other.Issue("OTHER-OWNER", keystore.P256, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	if w.ownerSelfSigned, err = keystore.GenerateDevice("OWNER-SELF", keystore.P256); err != nil {
		return nil, err
	}
	w.masaPool = x509.NewCertPool()
	w.masaPool.AddCert(w.masaRoot.Cert)
	return w, nil
})

func getWorld(t testing.TB) *world {
	t.Helper()
	w, err := testWorld()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) voucher(serial string) *Voucher {
	return &Voucher{CreatedOn: w.createdOn, ExpiresOn: w.expire, Assertion: AssertionVerified, SerialNumber: serial, PinnedDomainCert: w.ownerCA.Cert}
}

// issue is the test MASA: it signs v with its signing certificate and
// carries its issuing CA.
func (w *world) issue(t testing.TB, v *Voucher) []byte {
	t.Helper()
	b, err := Sign(v, w.masaSigner.Cert, w.masaSigner.Key, []*x509.Certificate{w.masa.Cert})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenAndCheck(t *testing.T) {
	t.Parallel()
	w := getWorld(t)
	nonce := bytes.Repeat([]byte{7}, 16)
	withNonce := w.voucher("SN1")
	withNonce.ExpiresOn, withNonce.Nonce = time.Time{}, nonce
	noExpiry := w.voucher("SN1")
	noExpiry.ExpiresOn = time.Time{}
	selfPinned := w.voucher("SN1")
	selfPinned.PinnedDomainCert = w.ownerSelfSigned.Cert
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	ownerChain := []*x509.Certificate{w.owner.Cert, w.ownerCA.Cert}
	tests := []struct {
		name   string
		v      *Voucher
		checks Checks
		want   error
	}{
		{"valid", w.voucher("SN1"), Checks{Serial: "SN1", Now: now, Owner: ownerChain}, nil},
		{"owner leaf alone chains to the pinned CA", w.voucher("SN1"), Checks{Serial: "SN1", Now: now, Owner: ownerChain[:1]}, nil},
		{"pinned is the owner certificate itself", selfPinned, Checks{Serial: "SN1", Now: now, Owner: []*x509.Certificate{w.ownerSelfSigned.Cert}}, nil},
		{"another serial", w.voucher("SN2"), Checks{Serial: "SN1", Now: now}, ErrSerial},
		{"expired", w.voucher("SN1"), Checks{Serial: "SN1", Now: w.expire.Add(time.Second)}, ErrExpired},
		{"nonce matches", withNonce, Checks{Serial: "SN1", Now: now, Nonce: nonce}, nil},
		{"nonce differs", withNonce, Checks{Serial: "SN1", Now: now, Nonce: bytes.Repeat([]byte{8}, 16)}, ErrNonce},
		{"nonce not sent", withNonce, Checks{Serial: "SN1", Now: now}, ErrNonce},
		{"owner of another CA", w.voucher("SN1"), Checks{Serial: "SN1", Now: now, Owner: []*x509.Certificate{w.stranger.Cert}}, ErrPinnedDomainCert},
		{"voucher expired", w.voucher("SN1"), Checks{Serial: "SN1", Now: now.AddDate(20, 0, 0), Owner: ownerChain}, ErrExpired},
		{"owner certificate expired", noExpiry, Checks{Serial: "SN1", Now: now.AddDate(20, 0, 0), Owner: ownerChain}, ErrPinnedDomainCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, signed, err := Open(w.issue(t, tt.v), w.masaPool, now)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if !signed.Signer.Equal(w.masaSigner.Cert) || v.SerialNumber != tt.v.SerialNumber {
				t.Fatalf("signer %s, serial %q", signed.Signer.Subject, v.SerialNumber)
			}
			if err := v.Check(tt.checks); !errors.Is(err, tt.want) {
				t.Fatalf("check: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	w := getWorld(t)
	good := w.issue(t, w.voucher("SN1"))
	otherMASA, _ := keystore.GenerateAuthority("Other MASA", keystore.P256)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(otherMASA.Cert)
	json, _ := w.voucher("SN1").MarshalJSON()
	wrongType, err := cms.Sign(json, w.masaSigner.Cert, w.masaSigner.Key, cms.SignOptions{Chain: []*x509.Certificate{w.masa.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(good, otherPool, time.Time{}); !errors.Is(err, cms.ErrUntrusted) {
		t.Errorf("another MASA's trust anchor: %v", err)
	}
	if _, _, err := Open(wrongType, w.masaPool, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("id-data content type: %v", err)
	}
	if _, _, err := Open([]byte(base64.StdEncoding.EncodeToString(good)), w.masaPool, time.Time{}); err != nil {
		t.Errorf("base64 artifact: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	w := getWorld(t)
	pinned := base64.StdEncoding.EncodeToString(w.ownerCA.Cert.Raw)
	base := `"created-on":"2026-01-01T00:00:00Z","assertion":"verified","serial-number":"SN1","pinned-domain-cert":"` + pinned + `"`
	wrap := func(s string) string { return `{"ietf-voucher:voucher":{` + s + `}}` }
	tests := []struct {
		name, json, want string
	}{
		{"valid", wrap(base), ""},
		{"qualified leaf names", wrap(strings.ReplaceAll(base, `"assertion"`, `"ietf-voucher:assertion"`)), ""},
		{"RFC 8366 example's string boolean", wrap(base + `,"domain-cert-revocation-checks":"true"`), ""},
		{"offset time zone", wrap(strings.Replace(base, "00:00:00Z", "01:00:00+01:00", 1)), ""},
		{"not JSON", `{`, "unexpected end"},
		{"no container", `{"voucher":{}}`, "exactly one member"},
		{"extra top-level member", `{"ietf-voucher:voucher":{` + base + `},"x":1}`, "exactly one member"},
		{"unknown leaf", wrap(base + `,"colour":"red"`), "not a leaf"},
		{"no created-on", wrap(strings.Replace(base, `"created-on":"2026-01-01T00:00:00Z",`, "", 1)), "created-on is mandatory"},
		{"bad date", wrap(strings.Replace(base, "2026-01-01T00:00:00Z", "2026-01-01", 1)), "not a date-and-time"},
		{"bad assertion", wrap(strings.Replace(base, "verified", "trusted", 1)), "is not verified, logged or proximity"},
		{"number serial", wrap(strings.Replace(base, `"SN1"`, `12`, 1)), "not a string"},
		{"bad base64", wrap(strings.Replace(base, pinned, "%%%", 1)), "not base64"},
		{"not a certificate", wrap(strings.Replace(base, pinned, "AAAA", 1)), "pinned-domain-cert"},
		{"short nonce", wrap(base + `,"nonce":"AAAA"`), "nonce of 3 bytes"},
		{"nonce with expires-on", wrap(base + `,"nonce":"AAAAAAAAAAA=","expires-on":"2027-01-01T00:00:00Z"`), "exclude each other"},
		{"last-renewal-date alone", wrap(base + `,"last-renewal-date":"2027-01-01T00:00:00Z"`), "needs expires-on"},
		{"boolean not boolean", wrap(base + `,"domain-cert-revocation-checks":1`), "not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.json))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	w := getWorld(t)
	yes := true
	v := w.voucher("SN1")
	v.IDevIDIssuer, v.DomainCertRevocationChecks, v.LastRenewalDate = []byte{1, 2, 3}, &yes, w.expire
	data, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedOn.Equal(v.CreatedOn) || !got.ExpiresOn.Equal(v.ExpiresOn) || !bytes.Equal(got.IDevIDIssuer, v.IDevIDIssuer) ||
		*got.DomainCertRevocationChecks != true || !got.PinnedDomainCert.Equal(v.PinnedDomainCert) || !got.LastRenewalDate.Equal(w.expire) {
		t.Fatalf("round trip changed the voucher: %+v", got)
	}
	if _, err := (&Voucher{}).MarshalJSON(); err == nil {
		t.Fatal("an empty voucher was written")
	}
}

// The openssl-only recipe of the README makes a voucher Open accepts.
func TestOpenSSLRecipe(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	t.Parallel()
	w := getWorld(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	json := fmt.Sprintf(`{"ietf-voucher:voucher":{"created-on":"2026-01-01T00:00:00Z","expires-on":"2036-01-01T00:00:00Z",`+
		`"assertion":"verified","serial-number":"SN1","pinned-domain-cert":"%s"}}`, base64.StdEncoding.EncodeToString(w.ownerCA.Cert.Raw))
	out := filepath.Join(dir, "SN1.vcj")
	cmd := exec.Command("openssl", "cms", "-sign", "-binary", "-nodetach", "-econtent_type", "1.2.840.113549.1.9.16.1.40",
		"-in", write("voucher.json", []byte(json)), "-signer", write("masa.pem", w.masaSigner.CertPEM), "-inkey", write("masa.key", w.masaSigner.KeyPEM),
		"-certfile", write("masa-ca.pem", w.masa.CertPEM), "-outform", "DER", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	artifact, _ := os.ReadFile(out)
	v, _, err := Open(artifact, w.masaPool, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(Checks{Serial: "SN1", Owner: []*x509.Certificate{w.owner.Cert}}); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	w := getWorld(f)
	good, _ := w.voucher("SN1").MarshalJSON()
	f.Add(good)
	f.Add([]byte(`{"ietf-voucher:voucher":{"nonce":"AAAAAAAAAAA="}}`))
	f.Add([]byte(`{"ietf-voucher:voucher":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := v.MarshalJSON(); err != nil {
			t.Fatalf("a voucher Parse accepted does not marshal: %v", err)
		}
	})
}

// Inspect reads a voucher whose signer nobody said to trust, and refuses a
// broken signature.
func TestInspect(t *testing.T) {
	t.Parallel()
	w := getWorld(t)
	art := w.issue(t, w.voucher("SN1"))
	v, s, err := Inspect(art)
	if err != nil || v.SerialNumber != "SN1" || !s.Signer.Equal(w.masaSigner.Cert) {
		t.Fatalf("%v", err)
	}
	bad := bytes.Clone(art)
	i := bytes.Index(bad, []byte("SN1"))
	bad[i+2] = '2'
	if _, _, err := Inspect(bad); !errors.Is(err, cms.ErrSignature) {
		t.Fatalf("a changed voucher: %v", err)
	}
	der, err := DER([]byte(base64.StdEncoding.EncodeToString(art)))
	if err != nil || !bytes.Equal(der, art) {
		t.Fatalf("DER of base64: %v", err)
	}
}
