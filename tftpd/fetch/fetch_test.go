package fetch

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

var config1 = []byte("hostname pe1\nradius-server key s3cr3t\n")

type configs struct {
	mu    sync.Mutex
	m     map[string][]byte
	pre   map[string][]byte // presealed configs
	reads atomic.Int64
	gate  chan struct{} // when set, Config waits for it to close
}

func (c *configs) Config(serial string) ([]byte, [32]byte, error) {
	c.reads.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[serial]
	if !ok {
		return nil, [32]byte{}, fs.ErrNotExist
	}
	return d, sha256.Sum256(d), nil
}

func (c *configs) Presealed(serial string) ([]byte, [32]byte, []cms.Recipient, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.pre[serial]
	if !ok {
		return nil, [32]byte{}, nil, false, nil
	}
	rs, err := cms.Recipients(d)
	return d, sha256.Sum256(d), rs, err == nil, err
}

func (c *configs) Sum(serial string) ([32]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[serial]
	if p, isPre := c.pre[serial]; isPre {
		d, ok = p, true
	}
	if !ok {
		return [32]byte{}, fs.ErrNotExist
	}
	return sha256.Sum256(d), nil
}

type certs map[string]*keystore.DeviceIdentity

func (c certs) Certificate(serial string) (*x509.Certificate, string, bool) {
	id, ok := c[serial]
	if !ok {
		return nil, "", false
	}
	return id.Cert, keystore.SPKIFingerprint(id.Cert).String(), true
}

func (c certs) HasCertificate(serial string) bool {
	_, ok := c[serial]
	return ok
}

func (c certs) Fingerprint(serial string) (string, bool) {
	_, fp, ok := c.Certificate(serial)
	return fp, ok
}

type bindings map[netip.Addr]string

func (b bindings) LookupIP(ip netip.Addr) (string, net.HardwareAddr, bool) {
	s, ok := b[ip]
	return s, net.HardwareAddr{2, 0, 0, 0, 0, 1}, ok
}

func device(t testing.TB, serial string) *keystore.DeviceIdentity {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	bound   = netip.MustParseAddrPort("192.0.2.10:1234")
	unbound = netip.MustParseAddrPort("192.0.2.99:1234")
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	sn1, sn2 := device(t, "SN1"), device(t, "SN2")
	cf := &configs{m: map[string][]byte{"SN1": config1, "SN2": config1, "LAB": config1, "NOCERT": config1}}
	core, err := New(Config{BindingCheck: true, FixedNames: []string{"network-confg"}, PlaintextSerials: []string{"LAB"}},
		Deps{Configs: cf, Certificates: certs{"SN1": sn1, "SN2": sn2}, Bindings: bindings{bound.Addr(): "SN1", netip.MustParseAddr("192.0.2.11"): "LAB",
			netip.MustParseAddr("192.0.2.12"): "NOCERT", netip.MustParseAddr("192.0.2.13"): "GONE"}})
	if err != nil {
		t.Fatal(err)
	}
	at := func(ip string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(ip), 69) }
	tests := []struct {
		name, file string
		remote     netip.AddrPort
		outcome    string // "" when served
		serial     string
		err        error
		encrypted  bool
	}{
		{"own file", "SN1.enc", bound, "", "SN1", nil, true},
		{"fixed name through the binding", "network-confg", bound, "", "SN1", nil, true},
		{"another serial's file", "SN2.enc", bound, OutcomeBindingMismatch, "SN2", ErrNotFound, false},
		{"no lease", "SN1.enc", unbound, OutcomeBindingMismatch, "SN1", ErrNotFound, false},
		{"fixed name, no lease", "network-confg", unbound, OutcomeNotFound, "", ErrNotFound, false},
		{"traversal", "../etc/shadow", bound, OutcomeDeniedName, "", ErrNotFound, false},
		{"unknown name", "pxelinux.0", bound, OutcomeNotFound, "", ErrNotFound, false},
		{"plaintext allowed for this serial", "LAB.enc", at("192.0.2.11"), "", "LAB", nil, false},
		{"no certificate", "NOCERT.enc", at("192.0.2.12"), OutcomeNoCertificate, "NOCERT", ErrNotFound, false},
		{"no config", "GONE.enc", at("192.0.2.13"), OutcomeNotFound, "GONE", ErrNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAttempt(tt.file, tt.remote)
			data, err := core.Prepare(a)
			if !errors.Is(err, tt.err) || a.Outcome != tt.outcome || a.Serial != tt.serial || a.Encrypted != tt.encrypted {
				t.Fatalf("err %v outcome %q serial %q encrypted %v; want %v %q %q %v (reason %q)",
					err, a.Outcome, a.Serial, a.Encrypted, tt.err, tt.outcome, tt.serial, tt.encrypted, a.Reason)
			}
			if tt.err != nil && a.Reason == "" {
				t.Error("a refusal without a reason")
			}
			if tt.err == nil && tt.encrypted {
				if plain, err := cms.Open(map[string]*keystore.DeviceIdentity{"SN1": sn1}[tt.serial].Key, data); err != nil || !bytes.Equal(plain, config1) {
					t.Fatalf("open: %v", err)
				}
			}
		})
	}
}

// A POP powering up asks for one config many times at once: one read and
// one seal serve them all, and every one gets the same bytes.
func TestConcurrentFetchesShareOneSeal(t *testing.T) {
	t.Parallel()
	id := device(t, "SN1")
	cf := &configs{m: map[string][]byte{"SN1": config1}, gate: make(chan struct{})}
	core, err := New(Config{}, Deps{Configs: cf, Certificates: certs{"SN1": id}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	out := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data, err := core.Prepare(NewAttempt("SN1.enc", bound))
			if err != nil {
				t.Error(err)
			}
			out[i] = data
		})
	}
	for cf.reads.Load() == 0 { // the first is reading; let the others pile up behind it
		select {
		case <-t.Context().Done():
			t.Fatal("no read")
		default:
			runtime.Gosched()
		}
	}
	close(cf.gate)
	wg.Wait()
	// Without sharing it is one read per fetch; with it, one, or a few
	// for fetches that came after the first was done and before the
	// cache had it.
	if r := cf.reads.Load(); r > n/2 {
		t.Fatalf("%d reads for %d concurrent fetches of one config", r, n)
	}
	for i := range out {
		if !bytes.Equal(out[i], out[0]) {
			t.Fatal("concurrent fetches got different bytes")
		}
	}
}

// Finish writes one event per attempt, with the transport's name and
// fields, however many times it is called.
func TestFinishOneEventPerTransport(t *testing.T) {
	t.Parallel()
	core, err := New(Config{}, Deps{Configs: &configs{m: map[string][]byte{}}, Certificates: certs{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		transport string
		want, not []string
	}{
		{"tftp", []string{"blksize"}, []string{"status", "range", "image"}},
		{"http", []string{"status", "range", "image"}, []string{"blksize"}},
	} {
		obs, logs := observer.New(zap.InfoLevel)
		reg := prometheus.NewRegistry()
		tr := core.Transport(tt.transport, zap.New(obs), reg)
		a := NewAttempt("SN9.enc", bound)
		if _, err := tr.Prepare(a); err == nil {
			t.Fatal("served a config that does not exist")
		}
		c := *a
		tr.Finish(a)
		tr.Finish(&c)
		ev := logs.FilterField(zap.String("event", tt.transport+".fetch")).All()
		if len(ev) != 1 {
			t.Fatalf("%s: %d events for one attempt", tt.transport, len(ev))
		}
		m := ev[0].ContextMap()
		for _, k := range append(tt.want, "outcome", "serial", "file", "remote", "mac", "bytes", "duration", "fingerprint", "cached", "encrypted", "reason") {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no field %s", tt.transport, k)
			}
		}
		for _, k := range tt.not {
			if _, ok := m[k]; ok {
				t.Errorf("%s: field %s belongs to another transport", tt.transport, k)
			}
		}
		if m["outcome"] != OutcomeNotFound || m["serial"] != "SN9" {
			t.Errorf("%s: event %v", tt.transport, m)
		}
		// Every outcome's series exists from the start.
		if n := testutil.CollectAndCount(reg, "sealboot_"+tt.transport+"_fetches_total"); n != len(Outcomes) {
			t.Errorf("%s: %d outcome series, want %d", tt.transport, n, len(Outcomes))
		}
		if v := testutil.ToFloat64(tr.m.fetches.WithLabelValues(OutcomeNotFound)); v != 1 {
			t.Errorf("%s: not_found counted %v times", tt.transport, v)
		}
	}
}

func TestCheckRefusesBadPolicy(t *testing.T) {
	t.Parallel()
	core, err := New(Config{}, Deps{Configs: &configs{}, Certificates: certs{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Check(Config{Names: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "{serial}") {
		t.Errorf("a pattern without {serial}: %v", err)
	}
	if err := core.Check(Config{BindingCheck: true}); err == nil {
		t.Error("binding check without bindings accepted")
	}
}

// Plaintext reads a serial's config with Prepare's outcomes, for a
// transport that authenticated the device itself: no name, no binding.
func TestPlaintext(t *testing.T) {
	t.Parallel()
	sn1 := device(t, "SN1")
	cf := &configs{m: map[string][]byte{"SN1": config1, "NOCERT": config1}}
	core, err := New(Config{BindingCheck: true}, Deps{Configs: cf, Certificates: certs{"SN1": sn1}, Bindings: bindings{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		serial, outcome string
		fingerprint     bool
	}{
		{"SN1", "", true},
		{"NOCERT", "", false},
		{"GONE", OutcomeNotFound, false},
		{"", OutcomeNotFound, false},
	}
	for _, tt := range tests {
		a := NewAttempt("", unbound)
		a.Serial = tt.serial
		data, err := core.Plaintext(a)
		if a.Outcome != tt.outcome || (a.Fingerprint != "") != tt.fingerprint {
			t.Errorf("%q: outcome %q fingerprint %q err %v", tt.serial, a.Outcome, a.Fingerprint, err)
		}
		if tt.outcome == "" && !bytes.Equal(data, config1) {
			t.Errorf("%q: got %q", tt.serial, data)
		}
		if tt.outcome != "" && (!errors.Is(err, ErrNotFound) || a.Reason == "") {
			t.Errorf("%q: err %v reason %q", tt.serial, err, a.Reason)
		}
	}
}

// Identify names the device bound to an attempt's address (for requests
// that name no config), and an image's bytes are not config bytes.
func TestIdentifyAndImageBytes(t *testing.T) {
	t.Parallel()
	core, err := New(Config{}, Deps{Configs: &configs{m: map[string][]byte{}}, Certificates: certs{},
		Bindings: bindings{bound.Addr(): "SN1"}})
	if err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zap.InfoLevel)
	tr := core.Transport("http", zap.New(obs), prometheus.NewRegistry())
	a := NewAttempt("/images/os.bin", bound)
	tr.Identify(a)
	if a.Serial != "SN1" || a.MAC.String() != "02:00:00:00:00:01" {
		t.Fatalf("identified %q %v", a.Serial, a.MAC)
	}
	b := NewAttempt("/images/os.bin", unbound)
	tr.Identify(b)
	if b.Serial != "" || b.MAC != nil {
		t.Fatalf("unbound address identified as %q %v", b.Serial, b.MAC)
	}
	a.Image, a.Outcome, a.Bytes = true, OutcomeServed, 1<<20
	tr.Finish(a)
	c := NewAttempt("SN1.enc", bound)
	c.Outcome, c.Bytes = OutcomeServed, 100
	tr.Finish(c)
	if v := testutil.ToFloat64(tr.m.bytes); v != 100 {
		t.Errorf("config bytes counted %v, want 100 (the image's are not configs)", v)
	}
	ev := logs.FilterField(zap.Bool("image", true)).All()
	if len(ev) != 1 || ev[0].ContextMap()["serial"] != "SN1" {
		t.Errorf("image events %v", ev)
	}
	// No bindings at all (DHCP elsewhere): nothing to identify.
	nb, err := New(Config{}, Deps{Configs: &configs{}, Certificates: certs{}})
	if err != nil {
		t.Fatal(err)
	}
	d := NewAttempt("/images/os.bin", bound)
	nb.Identify(d)
	if d.Serial != "" {
		t.Errorf("identified %q without bindings", d.Serial)
	}
}

// unreadableCerts lists a fingerprint for every serial but cannot give the
// certificate itself (its file is being rewritten, or no longer holds the
// pinned key).
type unreadableCerts struct{}

func (unreadableCerts) Certificate(string) (*x509.Certificate, string, bool) { return nil, "", false }
func (unreadableCerts) Fingerprint(string) (string, bool)                    { return "00ff", true }

// A certificate the keystore lists but cannot read now is a refusal, even
// with allow_plaintext: never the config in the clear.
func TestListedCertificateUnreadableIsRefused(t *testing.T) {
	t.Parallel()
	cf := &configs{m: map[string][]byte{"SN1": config1}}
	core, err := New(Config{AllowPlaintext: true}, Deps{Configs: cf, Certificates: unreadableCerts{}})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAttempt("SN1.enc", bound)
	data, err := core.Prepare(a)
	if !errors.Is(err, ErrServer) || a.Outcome != OutcomeError || data != nil || !strings.Contains(a.Reason, "cannot be read") {
		t.Fatalf("err %v outcome %q reason %q, %d bytes", err, a.Outcome, a.Reason, len(data))
	}
}

// A presealed config is served byte for byte as it is, to the device whose
// certificate is one of its recipients, and cached; after a re-pin to
// another key it is refused naming both (the configs directory says
// invalid too, but the core checks the certificate it seals for); with no
// certificate it is never served, whatever the plaintext policy; SZTP's
// Plaintext declines it with the reason.
func TestPresealedServedAsIs(t *testing.T) {
	t.Parallel()
	sn1 := device(t, "SN1")
	pre, err := cms.Seal(sn1.Cert, config1, cms.Options{Cipher: cms.AES256GCM})
	if err != nil {
		t.Fatal(err)
	}
	cf := &configs{m: map[string][]byte{}, pre: map[string][]byte{"SN1": pre, "NOCERT": pre}}
	cs := certs{"SN1": sn1}
	core, err := New(Config{AllowPlaintext: true}, Deps{Configs: cf, Certificates: cs})
	if err != nil {
		t.Fatal(err)
	}
	for i, wantCached := range []bool{false, true} {
		a := NewAttempt("SN1.enc", bound)
		got, err := core.Prepare(a)
		if err != nil || !bytes.Equal(got, pre) || !a.Encrypted || a.Cached != wantCached {
			t.Fatalf("fetch %d: %v, same bytes %v, encrypted %v, cached %v", i, err, bytes.Equal(got, pre), a.Encrypted, a.Cached)
		}
	}
	a := NewAttempt("NOCERT.enc", bound)
	if _, err := core.Prepare(a); !errors.Is(err, ErrNotFound) || !strings.Contains(a.Reason, "presealed") {
		t.Fatalf("presealed with no certificate: %v %s %q", err, a.Outcome, a.Reason)
	}
	a = NewAttempt("", bound)
	a.Serial = "SN1"
	if _, err := core.Plaintext(a); !errors.Is(err, ErrNotFound) || !strings.Contains(a.Reason, "RFC 8572") {
		t.Fatalf("SZTP plaintext of a presealed config: %v %q", err, a.Reason)
	}

	rma := device(t, "SN1")
	cs["SN1"] = rma
	a = NewAttempt("SN1.enc", bound)
	if got, err := core.Prepare(a); !errors.Is(err, ErrNotFound) || got != nil || a.Outcome != OutcomeNotFound ||
		!strings.Contains(a.Reason, "not sealed to the pinned certificate") {
		t.Fatalf("after a re-pin: %v %s %q", err, a.Outcome, a.Reason)
	}
}

// What a client sent reaches the event fit for a terminal: the name a
// TFTP read request carries (any bytes, raw) and HTTP's Range, with C1
// controls (U+009B is a CSI in a UTF-8 terminal) and bidirectional
// overrides (U+202E shows the rest of the line reversed) replaced, and at
// most maxLogText bytes.
func TestEventClientTextForTerminals(t *testing.T) {
	t.Parallel()
	core, err := New(Config{}, Deps{Configs: &configs{m: map[string][]byte{}}, Certificates: certs{}})
	if err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zap.InfoLevel)
	tr := core.Transport("http", zap.New(obs), prometheus.NewRegistry())
	hostile := "SN1\x1b[2J\u009b31m\u202egne.\u2066x\u0085\u200f" + strings.Repeat("A", 5000)
	a := NewAttempt(hostile, bound)
	a.Range = "bytes=0-1\u009b2J\u202e"
	if _, err := tr.Prepare(a); err == nil {
		t.Fatal("served a hostile name")
	}
	tr.Finish(a)
	m := logs.All()[0].ContextMap()
	for _, k := range []string{"file", "range", "reason"} {
		v := m[k].(string)
		if len(v) > maxLogText+len("…") {
			t.Errorf("%s: %d bytes", k, len(v))
		}
		for _, r := range v {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Errorf("%s %q carries %U", k, v, r)
			}
		}
	}
	if !strings.HasPrefix(m["file"].(string), "SN1?[2J?31m?gne.?x??") {
		t.Errorf("file %q", m["file"])
	}
}
