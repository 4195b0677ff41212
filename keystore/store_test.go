package keystore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// harness is a keys directory with a store on it and its logged events.
type harness struct {
	t       *testing.T
	dir     string
	store   *Store
	logs    *observer.ObservedLogs
	mu      sync.Mutex
	changed []string
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	return newHarnessOn(t, t.TempDir(), opts)
}

// newHarnessOn is newHarness on an existing directory.
func newHarnessOn(t *testing.T, dir string, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	opts.Dir = h.dir
	if opts.Settle == 0 {
		opts.Settle = time.Millisecond
	}
	opts.OnChange = func(serial string) {
		h.mu.Lock()
		h.changed = append(h.changed, serial)
		h.mu.Unlock()
	}
	st, err := Open(opts, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.store = st
	return h
}

// write puts a file in place with an old mtime, as a finished copy.
func (h *harness) write(name string, data []byte) {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(p, old, old); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) rescan() {
	h.t.Helper()
	if err := h.store.Rescan(); err != nil {
		h.t.Fatal(err)
	}
}

// events returns the certificate.state events with state.
func (h *harness) events(state string) []observer.LoggedEntry {
	return h.logs.FilterField(zap.String("event", "certificate.state")).FilterField(zap.String("state", state)).AllUntimed()
}

func field(e observer.LoggedEntry, key string) string {
	if v, ok := e.ContextMap()[key].(string); ok {
		return v
	}
	return ""
}

func device(t *testing.T, serial string, kt KeyType) *DeviceIdentity {
	t.Helper()
	id, err := GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// certWithSubject makes a self-signed P-256 certificate with subject.
func certWithSubject(t *testing.T, subject pkix.Name) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: subject, NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestSerialMapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.write("a.pem", certWithSubject(t, pkix.Name{CommonName: "router1", SerialNumber: "SN-ATTR"}))
	h.write("b.pem", certWithSubject(t, pkix.Name{CommonName: "SN-CN"}))
	der, _ := pem.Decode(certWithSubject(t, pkix.Name{CommonName: "SN-DER"}))
	h.write("c.der", der.Bytes)
	h.write("d.pem", certWithSubject(t, pkix.Name{CommonName: "has space"}))
	h.rescan()
	for _, serial := range []string{"SN-ATTR", "SN-CN", "SN-DER"} {
		if !h.store.HasCertificate(serial) {
			t.Errorf("no certificate for %s; have %v", serial, h.store.List())
		}
	}
	if h.store.HasCertificate("router1") {
		t.Error("CN used although a serialNumber attribute is present")
	}
	if inv := h.events("invalid"); len(inv) != 1 || field(inv[0], "file") != "d.pem" {
		t.Errorf("want one invalid event for d.pem, got %v", inv)
	}
	// An explicit serial on import overrides the subject, and survives rescans.
	e, err := h.store.Import(certWithSubject(t, pkix.Name{CommonName: "factory-name"}), "SN-OVERRIDE", false)
	if err != nil || e.File != "SN-OVERRIDE.crt" {
		t.Fatalf("import: %+v, %v", e, err)
	}
	if !h.store.HasCertificate("SN-OVERRIDE") {
		t.Fatal("imported certificate not usable at once")
	}
	h.rescan()
	st2, err := Open(Options{Dir: h.dir, ReadOnly: true, Settle: time.Nanosecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st2.HasCertificate("SN-OVERRIDE") || st2.HasCertificate("factory-name") {
		t.Fatalf("override lost after reopening: %v", st2.List())
	}
}

func TestPinning(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	first, second := device(t, "SN1", P256), device(t, "SN1", P256)
	h.write("SN1.crt", first.CertPEM)
	h.rescan()
	fp1 := SPKIFingerprint(first.Cert).String()
	if _, got, ok := h.store.Certificate("SN1"); !ok || got != fp1 {
		t.Fatalf("SN1 not pinned to its first key: %v", got)
	}
	// A second file with another key for SN1 is refused; the first stays.
	h.write("SN1-new.crt", second.CertPEM)
	h.rescan()
	if _, got, _ := h.store.Certificate("SN1"); got != fp1 {
		t.Fatalf("pinned key replaced by a dropped file: %s", got)
	}
	ref := h.events("refused")
	if len(ref) != 1 || field(ref[0], "pinned_fingerprint") != fp1 || field(ref[0], "fingerprint") != SPKIFingerprint(second.Cert).String() {
		t.Fatalf("refusal must name both fingerprints: %+v", ref)
	}
	// Overwriting the pinned file with another key leaves SN1 with none.
	h.write("SN1.crt", second.CertPEM)
	h.rescan()
	if h.store.HasCertificate("SN1") {
		t.Fatal("a certificate with an unpinned key is served")
	}
	// Import without --replace names both fingerprints; with it, succeeds.
	_, err := h.store.Import(second.CertPEM, "", false)
	if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), fp1) || !strings.Contains(err.Error(), SPKIFingerprint(second.Cert).String()) {
		t.Fatalf("import without replace: %v", err)
	}
	if _, err := h.store.Import(second.CertPEM, "", true); err != nil {
		t.Fatalf("import with replace: %v", err)
	}
	if _, got, ok := h.store.Certificate("SN1"); !ok || got != SPKIFingerprint(second.Cert).String() {
		t.Fatalf("after replace: %s %v", got, ok)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "SN1-new.crt")); !os.IsNotExist(err) {
		t.Fatal("replaced certificate's other file was not removed")
	}
	// Pins survive a new store on the directory.
	st2, _ := Open(Options{Dir: h.dir, Settle: time.Nanosecond}, zap.NewNop(), nil)
	if _, err := st2.Import(first.CertPEM, "", false); !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("pin lost across stores: %v", err)
	}
}

func TestDuplicatesAndProblems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	a, b := device(t, "SN2", RSA2048), device(t, "SN3", P256)
	other := device(t, "SN3", P384)
	h.write("SN2.crt", a.CertPEM)
	h.write("SN2-copy.crt", a.CertPEM)
	h.write("SN3-a.crt", b.CertPEM)
	h.write("SN3-b.crt", other.CertPEM)
	h.write("garbage.crt", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SN-ED"}}
	edDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, edPriv.Public(), edPriv)
	h.write("ed.crt", edDER)
	if err := os.Symlink(filepath.Join(h.dir, "missing"), filepath.Join(h.dir, "dangling.crt")); err != nil {
		t.Fatal(err)
	}
	h.write(".sealboot-pins.tmp123", []byte("ignored"))
	// The symlink's own mtime is now; let it age past the harness's 1 ms
	// settle time, or the scan leaves it for the next one.
	time.Sleep(5 * time.Millisecond)
	h.rescan()
	if !h.store.HasCertificate("SN2") {
		t.Fatal("duplicate files with the same key: SN2 should still be served")
	}
	if d := h.events("duplicate"); len(d) != 1 || field(d[0], "serial") != "SN2" {
		t.Fatalf("duplicate events: %v", d)
	}
	if h.store.HasCertificate("SN3") {
		t.Fatal("two different unpinned keys for SN3: neither may be trusted")
	}
	reasons := map[string]string{}
	for _, e := range append(h.events("invalid"), h.events("refused")...) {
		reasons[field(e, "file")] = field(e, "reason")
	}
	for file, want := range map[string]string{
		"garbage.crt":  "no certificate found",
		"ed.crt":       "Ed25519 keys cannot receive encrypted data",
		"dangling.crt": "a symbolic link: certificates must be regular files in keys_dir",
		"SN3-a.crt":    "different keys",
		"SN3-b.crt":    "different keys",
	} {
		if !strings.Contains(reasons[file], want) {
			t.Errorf("%s: reason %q, want it to mention %q", file, reasons[file], want)
		}
	}
	// Problems are logged once, not at every rescan.
	before := len(h.logs.All())
	h.rescan()
	if after := len(h.logs.All()); after != before {
		t.Fatalf("rescan without changes logged %d more lines", after-before)
	}
}

func TestHalfWrittenFileIsNotUsed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Settle: time.Hour})
	id := device(t, "SN4", P256)
	// A copy in progress: fresh mtime, half the bytes.
	p := filepath.Join(h.dir, "SN4.crt")
	if err := os.WriteFile(p, id.CertPEM[:len(id.CertPEM)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := h.store.rescan()
	if err != nil || !again {
		t.Fatalf("fresh file: again=%v err=%v, want a later scan", again, err)
	}
	if h.store.HasCertificate("SN4") || len(h.events("invalid")) != 0 {
		t.Fatal("a file still being written was read")
	}
	// Completed by renaming a finished file into place: taken at once.
	tmp := filepath.Join(h.dir, ".SN4.crt.part")
	if err := os.WriteFile(tmp, id.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(tmp, old, old)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if !h.store.HasCertificate("SN4") {
		t.Fatal("renamed-in certificate not loaded")
	}
}

func TestRemovalAndOnChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	id := device(t, "SN5", P256)
	h.write("x.crt", id.CertPEM)
	h.rescan()
	if err := os.Remove(filepath.Join(h.dir, "x.crt")); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if h.store.HasCertificate("SN5") || len(h.events("removed")) != 1 {
		t.Fatal("removed file still served or not logged")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Join(h.changed, ",") != "SN5,SN5" {
		t.Fatalf("OnChange calls: %v, want added and removed", h.changed)
	}
}

func TestRemoveDeletesFileAndPin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	a, b := device(t, "SN6", P256), device(t, "SN6", P256)
	if _, err := h.store.Import(a.CertPEM, "", false); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Remove("SN6"); err != nil {
		t.Fatal(err)
	}
	if h.store.HasCertificate("SN6") {
		t.Fatal("still present after Remove")
	}
	if _, err := h.store.Import(b.CertPEM, "", false); err != nil {
		t.Fatalf("pin not removed with the certificate: %v", err)
	}
	if err := h.store.Remove("NOPE"); !errors.Is(err, ErrNoSuchSerial) {
		t.Fatalf("Remove of unknown serial: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := Open(Options{Dir: filepath.Join(t.TempDir(), "nope")}, zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "keys directory") {
		t.Fatalf("missing dir: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(f, nil, 0o600)
	if _, err := Open(Options{Dir: f}, zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("file as dir: %v", err)
	}
}

func TestImportRefusesUnusable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	if _, err := h.store.Import([]byte("nope"), "", false); !errors.Is(err, ErrNotCertificate) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := h.store.Import(certWithSubject(t, pkix.Name{CommonName: "../etc"}), "", false); err == nil {
		t.Fatal("traversal serial from subject accepted")
	}
	if _, err := h.store.Import(device(t, "SNX", P256).CertPEM, "a/b", false); err == nil {
		t.Fatal("traversal serial override accepted")
	}
	bundle := append(device(t, "SNY", P256).CertPEM, device(t, "SNZ", P256).CertPEM...)
	if _, err := h.store.Import(bundle, "", false); !errors.Is(err, ErrSeveralCertificates) {
		t.Fatalf("a two-certificate bundle: %v, want it refused", err)
	}
	entries, _ := os.ReadDir(h.dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".sealboot-pins") {
			t.Errorf("failed imports left %s behind", e.Name())
		}
	}
}

// A certificate rewritten in place with one of the same length, keeping
// the file's mtime and inode (cp -p from a tree with fixed mtimes), is
// still seen: its change time moved.
func TestSameSizeMtimeAndInodeRewriteSeen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	first, second := device(t, "SN5", P256), device(t, "SN5", P256)
	a, b := first.CertPEM, second.CertPEM
	for len(a) < len(b) {
		a = append(a, '\n')
	}
	for len(b) < len(a) {
		b = append(b, '\n')
	}
	p := filepath.Join(h.dir, "SN5.crt")
	stamp := time.Unix(1, 0)
	put := func(data []byte) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644) // same inode
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	put(a)
	h.rescan()
	if _, fp, ok := h.store.Certificate("SN5"); !ok || fp != SPKIFingerprint(first.Cert).String() {
		t.Fatalf("SN5: %s %v", fp, ok)
	}
	time.Sleep(10 * time.Millisecond) // a later change time, on coarse clocks too
	put(b)
	h.rescan()
	if h.store.HasCertificate("SN5") {
		t.Fatal("the first key is still used after its file was rewritten with another (pinned) key")
	}
	if ref := h.events("refused"); len(ref) != 1 || field(ref[0], "fingerprint") != SPKIFingerprint(second.Cert).String() {
		t.Fatalf("want the rewrite refused against the pin: %+v", ref)
	}
}

// A certificate filed under another serial (imported with an explicit
// serial) is that serial's: importing or removing the serial its subject
// names leaves it alone.
func TestOtherSerialsFilesKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	a1, a2 := device(t, "AAA", P256), device(t, "AAA", P256) // two devices whose subject says AAA
	if _, err := h.store.Import(a1.CertPEM, "BBB", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Import(a2.CertPEM, "", false); err != nil {
		t.Fatal(err)
	}
	if _, fp, ok := h.store.Certificate("BBB"); !ok || fp != SPKIFingerprint(a1.Cert).String() {
		t.Fatalf("BBB lost its certificate when AAA was imported: %v %s", ok, fp)
	}
	if err := h.store.Remove("AAA"); err != nil {
		t.Fatal(err)
	}
	if !h.store.HasCertificate("BBB") {
		t.Fatal("removing AAA deleted BBB's certificate")
	}
}

// A certificate whose subject names no valid serial is usable once it is
// imported under an explicit serial, as the refusal message advises.
func TestImportWithSerialFixesUnusableSubject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	cert := certWithSubject(t, pkix.Name{CommonName: "SN 123"})
	if _, err := h.store.Import(cert, "", false); err == nil {
		t.Fatal("a subject with a space accepted as a serial")
	}
	if _, err := h.store.Import(cert, "SPACEFIX", false); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if !h.store.HasCertificate("SPACEFIX") {
		t.Fatalf("imported with --serial, yet not usable: %v", h.store.Problems())
	}
	st2, err := Open(Options{Dir: h.dir, ReadOnly: true, Settle: time.Nanosecond}, zap.NewNop(), nil)
	if err != nil || !st2.HasCertificate("SPACEFIX") {
		t.Fatalf("lost on reopening: %v %v", err, st2.Problems())
	}
}
