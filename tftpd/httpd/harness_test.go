package httpd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/images"
)

// The fetch core's three dependencies, faked.

type fakeConfigs map[string][]byte

func (f fakeConfigs) Config(serial string) ([]byte, [32]byte, error) {
	d, ok := f[serial]
	if !ok {
		return nil, [32]byte{}, fs.ErrNotExist
	}
	return d, sha256.Sum256(d), nil
}

// Presealed: no presealed configs here (see tftpd/fetch's tests).
func (f fakeConfigs) Presealed(string) ([]byte, [32]byte, []cms.Recipient, bool, error) {
	return nil, [32]byte{}, nil, false, nil
}

func (f fakeConfigs) Sum(serial string) ([32]byte, error) {
	_, s, err := f.Config(serial)
	return s, err
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

type fakeBindings map[netip.Addr]string

func (f fakeBindings) LookupIP(ip netip.Addr) (string, net.HardwareAddr, bool) {
	s, ok := f[ip]
	return s, net.HardwareAddr{2, 0, 0, 0, 0, byte(len(s))}, ok
}

// Loopback addresses the tests send from; Linux answers all of 127/8.
var (
	addrSN1  = netip.MustParseAddr("127.0.0.1") // leased to SN1
	addrSN2  = netip.MustParseAddr("127.0.0.2") // leased to SN2
	addrLAB  = netip.MustParseAddr("127.0.0.3") // leased to LAB (no certificate, plaintext allowed)
	addrNOC  = netip.MustParseAddr("127.0.0.4") // leased to NOCERT (no certificate)
	addrNone = netip.MustParseAddr("127.0.0.9") // no lease
)

const (
	config1 = "set system host-name pe1\nset system radius-server 192.0.2.10 secret s3cr3t-SN1\n"
	config2 = "hostname pe2\nradius key s3cr3t-SN2\n"
	labText = "hostname lab\nenable secret s3cr3t-LAB\n"
)

// harness is a running Server on 127.0.0.1 with the real fetch core.
type harness struct {
	t      *testing.T
	s      *Server
	addr   string
	keys   map[string]*keystore.DeviceIdentity
	imgDir string
	imgs   *images.Dir
	logs   *observer.ObservedLogs
	reg    *prometheus.Registry
	stop   func()
}

// newHarness starts a server; tweak adjusts its configuration. With
// paused, the images directory is never run: nothing is hashed.
func newHarness(t *testing.T, tweak func(*Config), imageFiles map[string]string, paused ...bool) *harness {
	t.Helper()
	sn1, err := keystore.GenerateDevice("SN1", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	sn2, err := keystore.GenerateDevice("SN2", keystore.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	core, err := fetch.New(fetch.Config{BindingCheck: true, PlaintextSerials: []string{"LAB"}, FixedNames: []string{"network-confg"}},
		fetch.Deps{
			Configs:      fakeConfigs{"SN1": []byte(config1), "SN2": []byte(config2), "LAB": []byte(labText), "NOCERT": []byte(labText)},
			Certificates: fakeCerts{"SN1": sn1, "SN2": sn2},
			Bindings:     fakeBindings{addrSN1: "SN1", addrSN2: "SN2", addrLAB: "LAB", addrNOC: "NOCERT"},
		})
	if err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zap.DebugLevel)
	log := zap.New(obs)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	for name, content := range imageFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	imgs, err := images.New(images.Config{Dir: dir, Settle: 10 * time.Millisecond}, log.Named("images"), reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: []string{"127.0.0.1:0"}}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg, core.Transport("http", log.Named("httpd"), reg), imgs, log.Named("httpd"), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if len(paused) == 0 || !paused[0] {
		wg.Go(func() { _ = imgs.Run(ctx) })
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	h := &harness{t: t, s: s, addr: s.Addrs()[0].String(), keys: map[string]*keystore.DeviceIdentity{"SN1": sn1, "SN2": sn2},
		imgDir: dir, imgs: imgs, logs: logs, reg: reg}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			wg.Wait()
		})
	}
	t.Cleanup(h.stop)
	for name := range imageFiles {
		if !strings.HasPrefix(name, ".") && (len(paused) == 0 || !paused[0]) {
			h.waitImage(name, 1)
		}
	}
	return h
}

// dial connects from a loopback source address.
func (h *harness) dial(from netip.Addr) net.Conn {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	c, err := d.DialContext(h.t.Context(), "tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// get sends one request (on its own connection) from an address and
// returns the response, its body and the request's event.
func (h *harness) get(from netip.Addr, method, path string, header http.Header) (*http.Response, []byte, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, "http://"+h.addr+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	var local string
	seen := h.eventCount() // an earlier connection may have had the same port
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true,
		DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, n, a)
			if err == nil {
				local = conn.LocalAddr().String()
			}
			return conn, err
		}}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, h.eventSince(local, seen)
}

// raw sends bytes on a new connection from addrSN1 and returns what comes
// back until the server closes it, and the event of that connection.
func (h *harness) raw(req string) (string, map[string]any) {
	h.t.Helper()
	seen := h.eventCount()
	c := h.dial(addrSN1)
	if _, err := io.WriteString(c, req); err != nil {
		h.t.Fatal(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite() // the request is all there is
	}
	out, _ := io.ReadAll(bufio.NewReader(c))
	return string(out), h.eventSince(c.LocalAddr().String(), seen)
}

// event waits for the http.fetch event of the client at remote.
func (h *harness) event(remote string) map[string]any {
	h.t.Helper()
	return h.eventSince(remote, 0)
}

// eventSince is event among the http.fetch events after the first seen:
// a client port can be reused by a later connection.
func (h *harness) eventSince(remote string, seen int) map[string]any {
	h.t.Helper()
	for {
		for _, e := range h.logs.FilterField(zap.String("event", "http.fetch")).All()[seen:] {
			if m := e.ContextMap(); m["remote"] == remote {
				return m
			}
		}
		select {
		case <-h.t.Context().Done():
			h.t.Fatalf("no http.fetch event for %s; events: %v", remote, h.events())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// eventCount is the number of http.fetch events so far.
func (h *harness) eventCount() int {
	return h.logs.FilterField(zap.String("event", "http.fetch")).Len()
}

func (h *harness) events() []map[string]any {
	var out []map[string]any
	for _, e := range h.logs.FilterField(zap.String("event", "http.fetch")).All() {
		out = append(out, e.ContextMap())
	}
	return out
}

// waitImage waits for the n-th image.state ready event of name.
func (h *harness) waitImage(name string, n int) map[string]any {
	h.t.Helper()
	for {
		got := 0
		for _, e := range h.logs.FilterField(zap.String("event", "image.state")).All() {
			if m := e.ContextMap(); m["state"] == "ready" && m["file"] == name {
				if got++; got == n {
					return m
				}
			}
		}
		select {
		case <-h.t.Context().Done():
			h.t.Fatalf("image %s not ready", name)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func statusOf(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return fmt.Sprintf("(closed: %q)", line)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
