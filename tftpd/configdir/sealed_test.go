package configdir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/appliance"
	"github.com/sealboot/sealboot/keystore/cms"
)

const deviceSecret = "tacacs-server key DEVICE-SECRET-1\n"

func newSealedHarness(t *testing.T, app Appliance, prepare func(dir string)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), certs: &certSet{m: map[string]bool{}}}
	if prepare != nil {
		prepare(h.dir)
	}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	cfg := Config{Dir: h.dir, Settle: time.Millisecond, MaxSize: 64 << 10}
	if app != nil { // a nil *appliance.Appliance must stay a nil interface
		cfg.Appliance = app
	}
	d, err := New(cfg, h.certs, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

func newDevice(t *testing.T, serial string, kt keystore.KeyType) *keystore.DeviceIdentity {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sealTo(t *testing.T, id *keystore.DeviceIdentity, data string) []byte {
	t.Helper()
	out, err := cms.Seal(id.Cert, []byte(data), cms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lastReason is the reason of serial's last config.state event, and its
// state.
func (h *harness) last(serial string) (state, reason string) {
	evs := h.logs.FilterField(zap.String("serial", serial)).AllUntimed()
	if len(evs) == 0 {
		return "", ""
	}
	m := evs[len(evs)-1].ContextMap()
	r, _ := m["reason"].(string)
	return m["state"].(string), r
}

// A config sealed to the device already is waiting for its certificate,
// ready once the pinned certificate is one of its recipients, served as
// it is (never opened), and invalid, with both keys named, once the serial
// is re-pinned to another key (an RMA).
func TestPresealedIsCheckedAgainstThePin(t *testing.T) {
	t.Parallel()
	dev := newDevice(t, "SN1", keystore.P256)
	sealed := sealTo(t, dev, deviceSecret)
	h := newSealedHarness(t, nil, func(dir string) { writeOld(t, filepath.Join(dir, "SN1.enc"), sealed) })
	if st, _ := h.last("SN1"); st != "" {
		t.Fatalf("a waiting config was logged at start as %q", st)
	}
	h.certs.setCert("SN1", dev.Cert)
	h.d.CertificateChanged("SN1")
	if st, r := h.last("SN1"); st != StateReady {
		t.Fatalf("state %s (%s), want ready", st, r)
	}
	data, sum, rs, ok, err := h.d.Presealed("SN1")
	if err != nil || !ok || !bytes.Equal(data, sealed) || sum != sha256.Sum256(sealed) || len(rs) != 1 || !rs[0].Matches(dev.Cert) {
		t.Fatalf("Presealed = %v %v", ok, err)
	}
	if _, _, err := h.d.Config("SN1"); !errors.Is(err, ErrPresealed) {
		t.Fatalf("Config of a presealed file: %v, want ErrPresealed", err)
	}
	if s, err := h.d.Sum("SN1"); err != nil || s != sum {
		t.Fatalf("Sum = %v", err)
	}

	rma := newDevice(t, "SN1", keystore.RSA2048)
	h.certs.setCert("SN1", rma.Cert)
	h.d.CertificateChanged("SN1")
	st, reason := h.last("SN1")
	if st != StateInvalid || !strings.HasPrefix(reason, "sealed to another key: recipients [kari issuer \"CN=SN1\" serial ") ||
		!strings.Contains(reason, "pinned certificate issuer \"CN=SN1\" serial ") || !strings.Contains(reason, "fingerprint fp-SN1") {
		t.Fatalf("after an RMA: %s %q", st, reason)
	}
	if _, _, _, _, err := h.d.Presealed("SN1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Presealed of a file sealed to the old key: %v", err)
	}
	if _, err := h.d.Sum("SN1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Sum of a file sealed to the old key: %v", err)
	}
}

// A file named like a presealed config that is not CMS is invalid, with a
// hint; it is never taken for a plaintext config.
func TestPresealedNotCMSIsInvalid(t *testing.T) {
	t.Parallel()
	h := newSealedHarness(t, nil, func(dir string) { writeOld(t, filepath.Join(dir, "SN2.enc"), []byte(deviceSecret)) })
	st, reason := h.last("SN2")
	if st != StateInvalid || !strings.Contains(reason, "not a CMS EnvelopedData") || !strings.Contains(reason, "<serial>.cfg") {
		t.Fatalf("%s %q", st, reason)
	}
	if _, _, err := h.d.Config("SN2"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

// A config sealed to the appliance opens in memory with its key; its sum
// is the file's (the ciphertext's); one sealed to another key, or with no
// appliance key configured, is invalid with the reason.
func TestApplianceSealed(t *testing.T) {
	t.Parallel()
	id, err := appliance.Generate("pop1-a", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	app, err := appliance.New(id.Key, id.Cert)
	if err != nil {
		t.Fatal(err)
	}
	ok := sealTo(t, id, deviceSecret)
	other := sealTo(t, newDevice(t, "pop2-a", keystore.RSA2048), deviceSecret)
	prepare := func(dir string) {
		writeOld(t, filepath.Join(dir, "SN1.cfg.cms"), ok)
		writeOld(t, filepath.Join(dir, "SN2.cfg.cms"), other)
	}
	h := newSealedHarness(t, app, prepare)
	h.certs.set("SN1", true)
	data, sum, err := h.d.Config("SN1")
	if err != nil || string(data) != deviceSecret || sum != sha256.Sum256(ok) {
		t.Fatalf("Config = %q, %v", data, err)
	}
	if _, _, _, isPre, err := h.d.Presealed("SN1"); isPre || err != nil {
		t.Fatalf("Presealed of an appliance-sealed config = %v, %v", isPre, err)
	}
	if st, reason := h.last("SN2"); st != StateInvalid || !strings.Contains(reason, "sealed to another key: recipients [ktri issuer \"CN=pop2-a\"") ||
		!strings.Contains(reason, "appliance certificate issuer \"CN=pop1-a\"") {
		t.Fatalf("SN2: %s %q", st, reason)
	}
	if _, _, err := h.d.Config("SN2"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Config of a file sealed to another appliance: %v", err)
	}

	none := newSealedHarness(t, nil, prepare)
	if st, reason := none.last("SN1"); st != StateInvalid || reason != "sealed to the appliance, but no appliance_key is configured" {
		t.Fatalf("without an appliance key: %s %q", st, reason)
	}
}

// A plaintext and a sealed file for one serial are ambiguous: both
// invalid, naming both, never served; removing one makes the other ready.
func TestPlaintextBesideSealedIsAmbiguous(t *testing.T) {
	t.Parallel()
	dev := newDevice(t, "SN3", keystore.P256)
	h := newSealedHarness(t, nil, func(dir string) {
		writeOld(t, filepath.Join(dir, "SN3.cfg"), []byte(deviceSecret))
		writeOld(t, filepath.Join(dir, "SN3.enc"), sealTo(t, dev, deviceSecret))
	})
	h.certs.setCert("SN3", dev.Cert)
	h.run()
	for _, f := range []string{"SN3.cfg", "SN3.enc"} {
		r, ok := h.reason(f)
		if !ok || !strings.HasPrefix(r, "ambiguous: SN3.cfg, SN3.enc are all configs for SN3") {
			t.Fatalf("%s: %q", f, r)
		}
	}
	if _, _, err := h.d.Config("SN3"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Config of an ambiguous serial: %v", err)
	}
	if _, _, _, _, err := h.d.Presealed("SN3"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Presealed of an ambiguous serial: %v", err)
	}
	if err := os.Remove(filepath.Join(h.dir, "SN3.cfg")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SN3.enc ready once alone", func() bool {
		_, _, _, ok, err := h.d.Presealed("SN3")
		return ok && err == nil
	})
	if st, _ := h.last("SN3"); st != StateReady {
		t.Fatalf("last state %s", st)
	}
}

// Extensions: the longest that matches names the kind; two kinds with the
// same extension are refused.
func TestKindExtensions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := New(Config{Dir: dir, Extension: ".enc"}, nil, zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "same extension") {
		t.Fatalf("duplicate extension: %v", err)
	}
	d, err := New(Config{Dir: dir, Extension: ".cms"}, nil, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"SN1.cfg.cms": KindAppliance, "SN1.cms": KindPlaintext, "SN1.enc": KindPresealed} {
		if _, serial, kind, _, ok := d.keyOf(name); !ok || kind != want || serial != "SN1" {
			t.Errorf("%s: %s %s %v, want %s", name, serial, kind, ok, want)
		}
	}
}

// Deploys that replace plaintext configs by sealed ones in one step (a
// release directory swapped in; files removed and added at once, as rsync
// --delete does) never show a serial as ambiguous on the way: removals are
// taken first.
func TestPlaintextReplacedBySealedInOneDeploy(t *testing.T) {
	t.Parallel()
	id, err := appliance.Generate("pop1-a", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := appliance.New(id.Key, id.Cert)
	base := t.TempDir()
	r1, r2 := filepath.Join(base, "r1"), filepath.Join(base, "r2")
	for _, d := range []string{r1, r2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeOld(t, filepath.Join(r1, "SN1.cfg"), []byte(deviceSecret))
	writeOld(t, filepath.Join(r1, "SN2.cfg"), []byte(deviceSecret))
	writeOld(t, filepath.Join(r2, "SN1.cfg.cms"), sealTo(t, id, deviceSecret))
	writeOld(t, filepath.Join(r2, "SN2.cfg"), []byte(deviceSecret))
	link := filepath.Join(base, "configs")
	if err := os.Symlink("r1", link); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: link, certs: &certSet{m: map[string]bool{"SN1": true, "SN2": true, "SN3": true}}}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	if h.d, err = New(Config{Dir: link, Settle: 20 * time.Millisecond, MaxSize: 1 << 16, Appliance: app}, h.certs, zap.New(core), nil); err != nil {
		t.Fatal(err)
	}
	h.run()
	if err := os.Symlink("r2", link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SN1 from its sealed file", func() bool {
		data, _, err := h.d.Config("SN1")
		return err == nil && string(data) == deviceSecret && h.d.List() != nil
	})
	// In the watched directory: the plaintext goes as the sealed file comes.
	writeOld(t, filepath.Join(r2, "SN3.cfg"), []byte(deviceSecret))
	eventually(t, "SN3 plaintext ready", func() bool { st, _ := h.last("SN3"); return st == StateReady })
	sealed := sealTo(t, id, deviceSecret)
	if err := os.WriteFile(filepath.Join(r2, ".SN3.tmp"), sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r2, "SN3.cfg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(r2, ".SN3.tmp"), filepath.Join(r2, "SN3.cfg.cms")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SN3 from its sealed file", func() bool {
		st, _ := h.last("SN3")
		_, _, err := h.d.Config("SN3")
		return st == StateReady && err == nil
	})
	for _, serial := range []string{"SN1", "SN3"} {
		for _, e := range h.logs.FilterField(zap.String("serial", serial)).AllUntimed() {
			if r, _ := e.ContextMap()["reason"].(string); strings.HasPrefix(r, "ambiguous") {
				t.Errorf("%s was ambiguous on the way: %s %s", serial, e.ContextMap()["file"], r)
			}
		}
	}
}

// BenchmarkScanSealed measures the first scan of 10,000 files sealed to the
// appliance (16 KiB configs, PEM): each is read once for its recipients,
// where a plaintext file is only stated (BenchmarkScan).
func BenchmarkScanSealed(b *testing.B) {
	id, err := appliance.Generate("pop1-a", keystore.P256)
	if err != nil {
		b.Fatal(err)
	}
	app, _ := appliance.New(id.Key, id.Cert)
	sealed, err := cms.Seal(id.Cert, bytes.Repeat([]byte("set system radius key s3cr3t;\n"), 16<<10/30), cms.Options{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	const n = 10000
	old := time.Now().Add(-time.Hour)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("SN%06d.cfg.cms", i))
		if err := os.WriteFile(p, sealed, 0o600); err != nil {
			b.Fatal(err)
		}
		_ = os.Chtimes(p, old, old)
	}
	for b.Loop() {
		d, err := New(Config{Dir: dir, Appliance: app}, nil, zap.NewNop(), nil)
		if err != nil || d.Len() != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/file")
}

// A file sealed to the appliance whose header names the appliance but
// whose content does not open (damaged after sealing) is invalid, with the
// reason, from the first fetch that finds it out, and stays so until it
// changes (a certificate change does not make it ready again).
func TestApplianceSealedThatDoesNotOpen(t *testing.T) {
	t.Parallel()
	id, err := appliance.Generate("pop1-a", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := appliance.New(id.Key, id.Cert)
	der, err := cms.Seal(id.Cert, []byte(deviceSecret), cms.Options{DER: true})
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-3] ^= 0xff // in the encrypted content, after the recipients
	h := newSealedHarness(t, app, func(dir string) { writeOld(t, filepath.Join(dir, "SN4.cfg.cms"), der) })
	h.certs.set("SN4", true)
	if _, _, err := h.d.Config("SN4"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "does not open with the appliance key") {
		t.Fatalf("Config of a damaged file: %v", err)
	}
	if st, reason := h.last("SN4"); st != StateInvalid || !strings.HasPrefix(reason, "does not open with the appliance key") {
		t.Fatalf("state %s %q", st, reason)
	}
	h.d.CertificateChanged("SN4")
	if _, err := h.d.Sum("SN4"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("after a certificate change: %v", err)
	}
}
