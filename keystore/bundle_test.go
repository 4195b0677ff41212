package keystore

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sealboot/sealboot/keystore/cms"
)

// vendorChain is a device certificate as vendors ship it: root, an
// intermediate, the device's IDevID.
type vendorChain struct {
	root, inter *Authority
	dev         *DeviceIdentity
}

func newVendorChain(t *testing.T, serial string) vendorChain {
	t.Helper()
	root, err := GenerateAuthority("Vendor Root CA", P256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("Vendor IDevID CA 1", P256)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := inter.Issue(serial, P256, IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return vendorChain{root, inter, dev}
}

// pem is the bundle in the given order.
func (v vendorChain) pem(order ...string) []byte {
	var b []byte
	for _, o := range order {
		switch o {
		case "leaf":
			b = append(b, v.dev.CertPEM...)
		case "inter":
			b = append(b, v.inter.CertPEM...)
		case "root":
			b = append(b, v.root.CertPEM...)
		}
	}
	return b
}

// p7b makes a PKCS#7 certificates-only bundle with openssl, as vendors'
// portals export them.
func p7b(t *testing.T, chainPEM []byte, der bool) []byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(in, chainPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"crl2pkcs7", "-nocrl", "-certfile", in}
	if der {
		args = append(args, "-outform", "DER")
	}
	out, err := exec.Command("openssl", args...).Output()
	if err != nil {
		t.Fatalf("openssl %v: %v", args, err)
	}
	return out
}

func TestBundlesAsVendorsShipThem(t *testing.T) {
	t.Parallel()
	v := newVendorChain(t, "SN-CHAIN")
	tests := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"leaf then chain", func(*testing.T) []byte { return v.pem("leaf", "inter", "root") }},
		{"chain then leaf", func(*testing.T) []byte { return v.pem("root", "inter", "leaf") }},
		{"p7b DER", func(t *testing.T) []byte { return p7b(t, v.pem("leaf", "inter", "root"), true) }},
		{"p7b PEM", func(t *testing.T) []byte { return p7b(t, v.pem("root", "leaf", "inter"), false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{PKCS7: cms.ParseCertificates})
			e, err := h.store.Import(tt.data(t), "", false)
			if err != nil {
				t.Fatal(err)
			}
			if e.Serial != "SN-CHAIN" || e.Fingerprint != SPKIFingerprint(v.dev.Cert).String() {
				t.Fatalf("imported %+v, want the device's certificate", e)
			}
			chain, err := h.store.Chain("SN-CHAIN")
			if err != nil {
				t.Fatal(err)
			}
			if len(chain) != 2 || !chain[0].Equal(v.inter.Cert) || !chain[1].Equal(v.root.Cert) {
				t.Fatalf("chain kept: %d certificates, want intermediate then root", len(chain))
			}
			// The file is the leaf first, as `openssl x509` reads it.
			data, err := os.ReadFile(filepath.Join(h.dir, "SN-CHAIN.crt"))
			if err != nil || !bytes.HasPrefix(data, v.dev.CertPEM) {
				t.Fatalf("SN-CHAIN.crt does not start with the device's certificate: %v", err)
			}
			// A store opened afresh (the daemon) reads the same file.
			again := newHarnessOn(t, h.dir, Options{PKCS7: cms.ParseCertificates})
			if fp, ok := again.store.Fingerprint("SN-CHAIN"); !ok || fp != e.Fingerprint {
				t.Fatalf("rescan: %q %v", fp, ok)
			}
		})
	}
	t.Run("p7b dropped into the directory", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{PKCS7: cms.ParseCertificates})
		h.write("SN-CHAIN.p7b", p7b(t, v.pem("leaf", "inter"), true))
		h.rescan()
		if !h.store.HasCertificate("SN-CHAIN") {
			t.Fatalf("problems: %+v", h.store.Problems())
		}
	})
	t.Run("without a PKCS#7 parser", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		if _, err := h.store.Import(p7b(t, v.pem("leaf"), true), "", false); !errors.Is(err, ErrNotCertificate) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBundleLeafChoice(t *testing.T) {
	t.Parallel()
	a, b := newVendorChain(t, "SN-A"), newVendorChain(t, "SN-B")
	two := append(a.pem("leaf", "inter"), b.dev.CertPEM...)
	if _, err := ParseBundle(two, "", nil); !errors.Is(err, ErrSeveralCertificates) {
		t.Fatalf("two devices' certificates: %v", err)
	}
	got, err := ParseBundle(two, "SN-B", nil)
	if err != nil || !got.Leaf.Equal(b.dev.Cert) {
		t.Fatalf("serial picks its leaf: %v", err)
	}
	if _, err := ParseCertificates(bytes.Repeat(a.dev.CertPEM, maxBundle+1), nil); !errors.Is(err, ErrNotCertificate) {
		t.Fatalf("%d certificates: %v", maxBundle+1, err)
	}
}

func FuzzParseBundle(f *testing.F) {
	v, err := GenerateAuthority("Fuzz CA", P256)
	if err != nil {
		f.Fatal(err)
	}
	d, err := v.Issue("SN-FUZZ", P256, IssueOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(append([]byte{}, d.CertPEM...), v.CertPEM...))
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data, "", cms.ParseCertificates)
		if err != nil {
			return
		}
		if b.Leaf == nil || len(b.Chain) > maxBundle {
			t.Fatalf("bundle %+v", b)
		}
		_ = b.PEM()
	})
}
