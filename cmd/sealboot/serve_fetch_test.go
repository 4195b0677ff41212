package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// vendorDirectory is a vendor's certificate directory over HTTPS, with a
// CA made for the test (the daemon trusts it through keystore.fetch_ca)
// and a token it requires. It ships certificates as vendors do: alone,
// followed by the intermediate, or as a PKCS#7 bundle.
type vendorDirectory struct {
	srv    *httptest.Server
	caFile string
	token  string
	down   atomic.Bool
	mu     sync.Mutex
	certs  map[string][]byte // path → answer
	served atomic.Int32
}

func newVendorDirectory(t *testing.T) *vendorDirectory {
	t.Helper()
	v := &vendorDirectory{certs: map[string][]byte{}, token: "tok-" + fmt.Sprint(time.Now().UnixNano())}
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case v.down.Load():
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case r.Header.Get("Authorization") != "Bearer "+v.token:
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		case strings.HasSuffix(r.URL.Path, "/SN-DOWNGRADE.pem"):
			http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
			return
		}
		v.mu.Lock()
		data, ok := v.certs[r.URL.Path]
		v.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		v.served.Add(1)
		_, _ = w.Write(data)
	}))
	t.Cleanup(v.srv.Close)
	v.caFile = filepath.Join(t.TempDir(), "vendor-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw})
	if err := os.WriteFile(v.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *vendorDirectory) publish(path string, data []byte) {
	v.mu.Lock()
	v.certs[path] = data
	v.mu.Unlock()
}

// shipped is serial's certificate from an IDevID CA as the vendor ships
// it, in one of three forms by n.
func shipped(t *testing.T, inter *keystore.Authority, serial string, n int) (*keystore.DeviceIdentity, []byte) {
	t.Helper()
	id, err := inter.Issue(serial, keystore.P256, keystore.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	switch n % 3 {
	case 1:
		return id, append(append([]byte{}, id.CertPEM...), inter.CertPEM...)
	case 2:
		p7, err := cms.Certificates([]*x509.Certificate{id.Cert, inter.Cert})
		if err != nil {
			t.Fatal(err)
		}
		return id, p7
	}
	return id, id.CertPEM
}

// waitCount waits until n log lines have msg.
func (d *daemonProc) waitCount(msg string, n int) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		c := 0
		for _, m := range d.lines {
			if s, _ := m["msg"].(string); strings.Contains(s, msg) {
				c++
			}
			if m["msg"] == "<exited>" {
				d.t.Fatalf("sealboot exited before %d lines %q", n, msg)
			}
		}
		if c >= n {
			return
		}
		d.failIfLate(fmt.Sprintf("at %d lines %q (%d so far)", n, msg, c))
		d.cond.Wait()
	}
}

// TestServeFetchesCertificatesOnDemand (issue 14 item 3): with
// keystore.fetch_url set, 100 configs dropped for serials with no
// certificate get their 100 certificates from the vendor directory with no
// manual step, although the directory is down at first (each fetch fails,
// is retried with backoff, then succeeds); a redirect to http and a
// certificate for another serial are refused with events; the token sent,
// read from a systemd credential, is in no log line; a reload applies a new
// fetch_url.
func TestServeFetchesCertificatesOnDemand(t *testing.T) {
	t.Parallel()
	bin := buildSealboot(t)
	v := newVendorDirectory(t)
	root, err := keystore.GenerateAuthority("Vendor Root", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("Vendor IDevID CA", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	serials := make([]string, n)
	for i := range serials {
		serials[i] = fmt.Sprintf("SN-OD%03d", i)
		_, data := shipped(t, inter, serials[i], i)
		v.publish("/certs/"+serials[i]+".pem", data)
	}
	_, liar := shipped(t, inter, "SN-SOMEONE-ELSE", 0)
	v.publish("/certs/SN-LIAR.pem", liar)
	v.down.Store(true)

	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "vendor-token"), []byte("Bearer "+v.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "sealboot.yaml")
	yaml := func(path string) []byte {
		return fmt.Appendf(nil, `state_dir: %s
admin:
  socket: "off"
tftp:
  listen: ["127.0.0.1:%d"]
watch:
  settle: 50ms
keystore:
  settle: 50ms
  fetch_url: "%s%s{serial}.pem"
  fetch_ca: %s
  fetch_headers:
    - name: Authorization
      credential: vendor-token
  fetch_concurrency: 8
  fetch_retry_min: 100ms
  fetch_retry_max: 400ms
`, dir, freeUDPPort(t), v.srv.URL, path, v.caFile)
	}
	if err := os.WriteFile(cfgFile, yaml("/certs/"), 0o600); err != nil {
		t.Fatal(err)
	}
	// $CREDENTIALS_DIRECTORY as systemd sets it for LoadCredential=.
	d := startDaemon(t, bin, []string{"CREDENTIALS_DIRECTORY=" + creds}, "--config", cfgFile)
	d.waitFor("sealboot ready")
	for _, s := range append(serials, "SN-LIAR", "SN-DOWNGRADE") {
		if err := os.WriteFile(filepath.Join(dir, "configs", s+".cfg"), []byte("hostname "+s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The directory is down: fetches fail, and are tried again.
	d.waitMatch("certificate fetch failed", func(m map[string]any) bool {
		return m["attempt"] == 3.0 && strings.Contains(fmt.Sprint(m["reason"]), "503")
	})
	d.waitCount("config waiting_for_certificate", n+2)
	v.down.Store(false)
	d.waitCount("certificate fetched", n)
	d.waitCount("config ready", n)
	for _, s := range serials {
		if _, err := os.Stat(filepath.Join(dir, "keys", s+".crt")); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	liarEv := d.waitForField("certificate fetch refused", "serial", "SN-LIAR")
	if r := fmt.Sprint(liarEv["reason"]); !strings.Contains(r, `the certificate is for serial "SN-SOMEONE-ELSE"`) {
		t.Errorf("SN-LIAR refused for %q", r)
	}
	down := d.waitForField("certificate fetch refused", "serial", "SN-DOWNGRADE")
	if r := fmt.Sprint(down["reason"]); !strings.Contains(r, "redirect to http://127.0.0.1") || !strings.Contains(r, "https only") {
		t.Errorf("SN-DOWNGRADE refused for %q", r)
	}
	for _, s := range []string{"SN-LIAR", "SN-DOWNGRADE"} {
		if _, err := os.Stat(filepath.Join(dir, "keys", s+".crt")); err == nil {
			t.Errorf("a refused certificate was stored for %s", s)
		}
	}
	// Reload: a new fetch_url applies, for a config dropped afterwards.
	_, next := shipped(t, inter, "SN-AFTER-RELOAD", 1)
	v.publish("/v2/SN-AFTER-RELOAD.pem", next)
	if err := os.WriteFile(cfgFile, yaml("/v2/"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitFor("configuration reloaded")
	_ = os.WriteFile(filepath.Join(dir, "configs", "SN-AFTER-RELOAD.cfg"), []byte("hostname x\n"), 0o600)
	d.waitForField("certificate fetched", "serial", "SN-AFTER-RELOAD")
	if err := d.stopAndWait(syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.lines {
		if line := fmt.Sprint(m); strings.Contains(line, v.token) || strings.Contains(line, "/certs/SN") {
			t.Fatalf("a log line names the token or the URL: %s", line)
		}
	}
}

// TestDeviceAskingFetchesItsCertificate: a device asking for its config
// (the fetch core finds no certificate) queues the same fetch, and its
// next attempt is served sealed.
func TestDeviceAskingFetchesItsCertificate(t *testing.T) {
	t.Parallel()
	v := newVendorDirectory(t)
	id, err := keystore.GenerateDevice("SN-ASK", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	v.publish("/certs/SN-ASK.pem", id.CertPEM)
	keys, err := keystore.Open(keystore.Options{Dir: t.TempDir(), Settle: time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	*cfg = config.Default()
	cfg.Keystore.FetchURL, cfg.Keystore.FetchCA = v.srv.URL+"/certs/{serial}.pem", v.caFile
	cfg.Keystore.FetchHeaders = []config.FetchHeader{{Name: "Authorization", File: filepath.Join(t.TempDir(), "token")}}
	if err := os.WriteFile(cfg.Keystore.FetchHeaders[0].File, []byte("Bearer "+v.token), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := fetcherConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	f := keystore.NewFetcher(keys, fc, nil, zap.New(core), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := fetch.New(fetch.Config{}, fetch.Deps{Configs: oneConfig{"SN-ASK", []byte("hostname ask\n")}, Certificates: certificatesOnDemand{keys, f}})
	if err != nil {
		t.Fatal(err)
	}
	ask := func() (*fetch.Attempt, []byte, error) {
		a := &fetch.Attempt{File: "SN-ASK.enc", Remote: netip.MustParseAddrPort("192.0.2.10:1069")}
		data, err := c.Prepare(a)
		return a, data, err
	}
	if a, _, err := ask(); err == nil || a.Outcome != fetch.OutcomeNoCertificate {
		t.Fatalf("first attempt: %v %q, want no_certificate", err, a.Outcome)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !keys.HasCertificate("SN-ASK") {
		select {
		case <-t.Context().Done():
			t.Fatal("the certificate was never fetched")
		case <-tick.C:
		}
	}
	a, data, err := ask()
	if err != nil || !a.Encrypted {
		t.Fatalf("second attempt: %v %+v", err, a)
	}
	if plain, err := cms.Open(id.Key, data); err != nil || string(plain) != "hostname ask\n" {
		t.Fatalf("open: %v %q", err, plain)
	}
	if logs.FilterMessage("certificate fetched").Len() != 1 {
		t.Fatalf("events: %v", logs.All())
	}
}

// oneConfig is a configs directory with one serial's config.
type oneConfig struct {
	serial string
	data   []byte
}

func (o oneConfig) Config(serial string) ([]byte, [32]byte, error) {
	if serial != o.serial {
		return nil, [32]byte{}, os.ErrNotExist
	}
	return o.data, sha256.Sum256(o.data), nil
}

func (o oneConfig) Sum(serial string) ([32]byte, error) {
	_, sum, err := o.Config(serial)
	return sum, err
}

// Presealed: the config is plaintext.
func (o oneConfig) Presealed(string) ([]byte, [32]byte, []cms.Recipient, bool, error) {
	return nil, [32]byte{}, nil, false, nil
}

// TestMadeUpSerialsQueueNoFetch: a device asking for made-up serials
// takes no room in the certificate fetch queue (the fetch core looks for
// the config first and asks for no certificate without one); a serial
// with a config and no certificate queues one fetch.
func TestMadeUpSerialsQueueNoFetch(t *testing.T) {
	t.Parallel()
	keys, err := keystore.Open(keystore.Options{Dir: t.TempDir(), Settle: time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	*cfg = config.Default()
	cfg.Keystore.FetchURL = "https://vendor.example/certs/{serial}.pem"
	fc, err := fetcherConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f := keystore.NewFetcher(keys, fc, nil, zap.NewNop(), reg) // not run: what is queued stays queued
	queued := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sealboot_keystore_fetch_queue" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no sealboot_keystore_fetch_queue")
		return 0
	}
	configs := oneConfig{"SN-REAL", []byte("hostname real\n")}
	core, err := fetch.New(fetch.Config{}, fetch.Deps{Configs: configs,
		Certificates: certificatesOnDemand{keys, f}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		a := &fetch.Attempt{File: fmt.Sprintf("FAKE%04d.enc", i), Remote: netip.MustParseAddrPort("192.0.2.66:1069")}
		if _, err := core.Prepare(a); err == nil {
			t.Fatalf("%s served", a.File)
		}
	}
	if n := queued(); n != 0 {
		t.Fatalf("made-up serials queued %v fetches", n)
	}
	a := &fetch.Attempt{File: "SN-REAL.enc", Remote: netip.MustParseAddrPort("192.0.2.10:1069")}
	if _, err := core.Prepare(a); err == nil || a.Outcome != fetch.OutcomeNoCertificate {
		t.Fatalf("SN-REAL: %v %q, want no_certificate", err, a.Outcome)
	}
	if n := queued(); n != 1 {
		t.Fatalf("SN-REAL's request queued %v fetches, want 1", n)
	}
}
