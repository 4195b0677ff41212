package cms

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// Recipients names who a message is sealed to, for what Seal writes and
// for what `openssl cms -encrypt` writes (issuer and serial by default,
// subject key identifier with -keyid, several recipients, GCM), RSA and EC.
func TestRecipientsMatchTheirCertificate(t *testing.T) {
	t.Parallel()
	other := device(t, keystore.P384)
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256} {
		id := device(t, kt)
		sealed, err := Seal(id.Cert, sampleConfig, Options{Cipher: AES256GCM})
		if err != nil {
			t.Fatal(err)
		}
		ok, rs, err := SealedTo(sealed, id.Cert)
		if err != nil || !ok || len(rs) != 1 || rs[0].Serial == nil {
			t.Fatalf("%s: SealedTo(own) = %v %v %v", kt, ok, rs, err)
		}
		if ok, _, _ := SealedTo(sealed, other.Cert); ok {
			t.Errorf("%s: a message sealed to one key matches another certificate", kt)
		}
		wantKind := map[bool]string{true: "ktri", false: "kari"}[strings.HasPrefix(string(kt), "rsa")]
		if rs[0].Kind != wantKind || !strings.Contains(rs[0].String(), "SN-"+string(kt)) {
			t.Errorf("%s: recipient %q, want a %s naming the issuer", kt, rs[0], wantKind)
		}
	}
}

func TestRecipientsOfOpenSSLMessages(t *testing.T) {
	needOpenSSL(t)
	t.Parallel()
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256} {
		id := device(t, kt)
		_, cert := writeIdentity(t, id)
		other := device(t, keystore.P384)
		_, otherCert := writeIdentity(t, other)
		for _, v := range []struct {
			name  string
			args  []string
			keyID bool
		}{
			{"issuer and serial", []string{"-aes256", "-outform", "PEM"}, false},
			{"keyid", []string{"-aes256", "-keyid", "-outform", "DER"}, true},
			{"gcm keyid", []string{"-aes-256-gcm", "-keyid", "-outform", "PEM"}, true},
			{"stream ber", []string{"-aes128", "-stream", "-outform", "DER"}, false},
		} {
			t.Run(string(kt)+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				args := append([]string{"cms", "-encrypt", "-binary"}, v.args...)
				args = append(args, "-recip", otherCert, "-recip", cert)
				enc := runOpenSSL(t, sampleConfig, args...)
				ok, rs, err := SealedTo(enc, id.Cert)
				if err != nil || !ok || len(rs) != 2 {
					t.Fatalf("SealedTo = %v, %v, %v", ok, rs, err)
				}
				if (rs[1].KeyID != nil) != v.keyID {
					t.Errorf("recipient %v: key id expected %v", rs[1], v.keyID)
				}
				if ok, _, _ := SealedTo(enc, device(t, keystore.RSA3072).Cert); ok {
					t.Error("matches a certificate that is not a recipient")
				}
			})
		}
	}
}

func TestRecipientsRefusesWhatIsNotEnveloped(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{sampleConfig, nil, []byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n")} {
		if _, err := Recipients(in); !errors.Is(err, ErrNotCMS) {
			t.Errorf("Recipients(%.20q) = %v, want ErrNotCMS", in, err)
		}
	}
}

// FuzzRecipients: the header reader sees files from configs_dir.
func FuzzRecipients(f *testing.F) {
	for _, kt := range []keystore.KeyType{keystore.RSA2048, keystore.P256} {
		m, err := Seal(device(f, kt).Cert, sampleConfig, Options{DER: true})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	f.Add(sampleConfig)
	cert := device(f, keystore.P256).Cert
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Recipients(data)
		if err == nil && len(rs) == 0 {
			t.Fatal("no error and no recipients")
		}
		for _, r := range rs {
			_ = r.Matches(cert)
			_ = r.String()
		}
	})
}
