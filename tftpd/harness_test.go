package tftpd

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// fakes for the three dependencies.

type fakeConfigs struct {
	mu sync.Mutex
	m  map[string][]byte
	e  map[string]error
}

func (f *fakeConfigs) Config(serial string) ([]byte, [32]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.e[serial]; err != nil {
		return nil, [32]byte{}, err
	}
	d, ok := f.m[serial]
	if !ok {
		return nil, [32]byte{}, fs.ErrNotExist
	}
	return d, sha256.Sum256(d), nil
}

// Presealed: no presealed configs here (see tftpd/fetch's tests).
func (f *fakeConfigs) Presealed(string) ([]byte, [32]byte, []cms.Recipient, bool, error) {
	return nil, [32]byte{}, nil, false, nil
}

func (f *fakeConfigs) Sum(serial string) ([32]byte, error) {
	_, sum, err := f.Config(serial)
	return sum, err
}

func (f *fakeConfigs) fail(serial string, err error) {
	f.mu.Lock()
	f.e[serial] = err
	f.mu.Unlock()
}

func (f *fakeConfigs) set(serial string, data []byte) {
	f.mu.Lock()
	f.m[serial] = data
	f.mu.Unlock()
}

type fakeCerts map[string]*keystore.DeviceIdentity

func (f fakeCerts) Certificate(serial string) (*x509.Certificate, string, bool) {
	id, ok := f[serial]
	if !ok {
		return nil, "", false
	}
	return id.Cert, keystore.SPKIFingerprint(id.Cert).String(), true
}

func (f fakeCerts) Fingerprint(serial string) (string, bool) {
	_, fp, ok := f.Certificate(serial)
	return fp, ok
}

type binding struct {
	serial string
	mac    net.HardwareAddr
}

type fakeBindings map[netip.Addr]binding

func (f fakeBindings) LookupIP(ip netip.Addr) (string, net.HardwareAddr, bool) {
	b, ok := f[ip]
	return b.serial, b.mac, ok
}

// harness runs a Server on loopback.
type harness struct {
	t       *testing.T
	srv     *Server
	core    *fetch.Core
	logs    *observer.ObservedLogs
	configs *fakeConfigs
	certs   fakeCerts
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
}

func device(t testing.TB, serial string, kt keystore.KeyType) *keystore.DeviceIdentity {
	t.Helper()
	id, err := keystore.GenerateDevice(serial, kt)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newFetcher builds the fetch core a server serves from.
func newFetcher(t testing.TB, cfg fetch.Config, deps fetch.Deps, log *zap.Logger) *fetch.Transport {
	t.Helper()
	core, err := fetch.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return core.Transport("tftp", log, nil)
}

func start(t *testing.T, cfg Config, fcfg fetch.Config, certs fakeCerts, bindings fetch.Bindings) *harness {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0", "[::1]:0"}
	}
	h := &harness{t: t, certs: certs, configs: &fakeConfigs{m: map[string][]byte{}, e: map[string]error{}}}
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	deps := fetch.Deps{Configs: h.configs, Certificates: certs}
	if bindings != nil {
		deps.Bindings = bindings
	}
	h.reg = prometheus.NewRegistry()
	fc, err := fetch.New(fcfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.core = fc
	srv, err := New(cfg, fc.Transport("tftp", zap.New(core), h.reg), zap.New(core), h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-h.done:
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Error(err)
	}
}

// metric reads a gauge or a counter from the server's metrics as a scrape
// would.
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	h.t.Fatalf("no metric %s", name)
	return 0
}

// addr returns the server's address of the given family, "udp4" or "udp6".
func (h *harness) addr(family string) string {
	for _, a := range h.srv.Addrs() {
		ua := a.(*net.UDPAddr)
		if (ua.IP.To4() != nil) == (family == "udp4") {
			return ua.String()
		}
	}
	h.t.Fatalf("no %s listener", family)
	return ""
}

// events returns the tftp.fetch events logged so far.
func (h *harness) events() []map[string]any {
	var out []map[string]any
	for _, e := range h.logs.FilterField(zap.String("event", "tftp.fetch")).AllUntimed() {
		m := e.ContextMap()
		m["level"] = e.Level.String()
		out = append(out, m)
	}
	return out
}

// byFile indexes events by requested file name (the order of events from
// concurrent transfers is not the order of requests).
func byFile(ev []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range ev {
		out[e["file"].(string)] = e
	}
	return out
}

// waitEvents waits until n fetch events have been logged.
func (h *harness) waitEvents(n int) []map[string]any {
	h.t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if ev := h.events(); len(ev) >= n {
			return ev
		}
		select {
		case <-h.t.Context().Done():
			h.t.Fatalf("waited for %d fetch events, have %d", n, len(h.events()))
		case <-tick.C:
		}
	}
}

func nopLogger() *zap.Logger { return zap.NewNop() }
