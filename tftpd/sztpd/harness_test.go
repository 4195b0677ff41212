package sztpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/anchors"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/keystore/voucher"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// pki is everything a lab needs, made once per test binary: a vendor CA
// with devices, a stranger CA, a TLS server identity, an owner and a MASA.
type pki struct {
	vendor, stranger, serverCA, masa, ownerCA *keystore.Authority
	server, owner                             *keystore.DeviceIdentity
	devices                                   map[string]*keystore.DeviceIdentity // by serial, issued by vendor
	alien                                     *keystore.DeviceIdentity            // SN1 by the stranger
	rma                                       *keystore.DeviceIdentity            // SN1 again by the vendor, another key
}

var testPKI = sync.OnceValues(func() (*pki, error) {
	p := &pki{devices: map[string]*keystore.DeviceIdentity{}}
	var err error
	for _, a := range []struct {
		dst  **keystore.Authority
		name string
	}{{&p.vendor, "Vendor Root"}, {&p.stranger, "Stranger Root"}, {&p.serverCA, "Server CA"}, {&p.masa, "Vendor MASA"}, {&p.ownerCA, "Owner CA"}} {
		if *a.dst, err = keystore.GenerateAuthority(a.name, keystore.P256); err != nil {
			return nil, err
		}
	}
	if p.server, err = p.serverCA.Issue("sztp.example", keystore.P256, keystore.IssueOptions{ServerNames: []string{"localhost"}, ServerIPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}); err != nil {
		return nil, err
	}
	if p.owner, err = p.ownerCA.Issue("OWNER", keystore.RSA2048, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	for serial, kt := range map[string]keystore.KeyType{"SN1": keystore.P256, "SN2": keystore.RSA2048, "SN3": keystore.P384, "NOCFG": keystore.P256, "NOCERT": keystore.P256} {
		if p.devices[serial], err = p.vendor.Issue(serial, kt, keystore.IssueOptions{}); err != nil {
			return nil, err
		}
	}
	if p.alien, err = p.stranger.Issue("SN1", keystore.P256, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	if p.rma, err = p.vendor.Issue("SN1", keystore.P256, keystore.IssueOptions{}); err != nil {
		return nil, err
	}
	return p, nil
})

func getPKI(t testing.TB) *pki {
	t.Helper()
	p, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// voucherFor is the test MASA's voucher for serial, pinned to the owner CA.
func (p *pki) voucherFor(t testing.TB, serial string, mod func(*voucher.Voucher)) []byte {
	t.Helper()
	v := &voucher.Voucher{CreatedOn: time.Now().Add(-time.Hour), ExpiresOn: time.Now().AddDate(1, 0, 0), Assertion: voucher.AssertionVerified,
		SerialNumber: serial, PinnedDomainCert: p.ownerCA.Cert}
	if mod != nil {
		mod(v)
	}
	b, err := voucher.Sign(v, p.masa.Cert, p.masa.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fakeConfigs map[string][]byte

func (c fakeConfigs) Config(serial string) ([]byte, [32]byte, error) {
	d, ok := c[serial]
	if !ok {
		return nil, [32]byte{}, fs.ErrNotExist
	}
	return d, sha256.Sum256(d), nil
}

// Presealed: no presealed configs here (see tftpd/fetch's tests).
func (c fakeConfigs) Presealed(string) ([]byte, [32]byte, []cms.Recipient, bool, error) {
	return nil, [32]byte{}, nil, false, nil
}

func (c fakeConfigs) Sum(serial string) ([32]byte, error) {
	_, s, err := c.Config(serial)
	return s, err
}

type fakeCerts map[string]*x509.Certificate

func (c fakeCerts) Certificate(serial string) (*x509.Certificate, string, bool) {
	cert, ok := c[serial]
	if !ok {
		return nil, "", false
	}
	return cert, keystore.SPKIFingerprint(cert).String(), true
}

func (c fakeCerts) Fingerprint(serial string) (string, bool) {
	_, fp, ok := c.Certificate(serial)
	return fp, ok
}

// chainCerts is a keystore that keeps chains.
type chainCerts struct {
	fakeCerts
	chains map[string][]*x509.Certificate
}

func (c chainCerts) Chain(serial string) ([]*x509.Certificate, error) { return c.chains[serial], nil }

type fakeImages map[string]string // name → sha256 hex; "" = being hashed

func (im fakeImages) Lookup(name string) (int64, string, bool) {
	sum, ok := im[name]
	if !ok {
		return 0, "", false
	}
	return 1000, sum, sum != ""
}

var routerConfig = []byte("hostname r1\nusername admin secret 9 s3cr3t\n")

// lab is a running server with its files.
type lab struct {
	// extra devices (with routerConfig) and the chains the keystore keeps
	// for serials, set by newLab's mod.
	extra  map[string]*keystore.DeviceIdentity
	chains map[string][]*x509.Certificate
	p      *pki
	dir    string
	srv    *Server
	logs   *observer.ObservedLogs
	url    string
	cfg    Config
}

// newLab writes the files, starts a server on loopback and returns it;
// mod adjusts the configuration first.
func newLab(t testing.TB, mod func(*lab, *Config)) *lab {
	t.Helper()
	p := getPKI(t)
	l := &lab{p: p, dir: t.TempDir()}
	write := func(name string, data []byte) string {
		path := filepath.Join(l.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("anchors/vendor.pem", p.vendor.CertPEM)
	write("vouchers/SN1.vcj", p.voucherFor(t, "SN1", nil))
	write("vouchers/SN2.vcj", p.voucherFor(t, "SN2", nil))
	write("vouchers/SN3.vcj", p.voucherFor(t, "SN3", nil))
	l.cfg = Config{
		Listen:  []string{"127.0.0.1:0"},
		TLSCert: write("server.pem", append(append([]byte{}, p.server.CertPEM...), p.serverCA.CertPEM...)), TLSKey: write("server.key", p.server.KeyPEM),
		OwnerCert:   write("owner.pem", append(append([]byte{}, p.owner.CertPEM...), p.ownerCA.CertPEM...)),
		OwnerKey:    write("owner.key", p.owner.KeyPEM),
		VouchersDir: filepath.Join(l.dir, "vouchers"),
		BasicAuth:   write("passwords", []byte("# serial sha256\nNOCERT "+PasswordHash("right")+"\n")),
		ImagePort:   8080,
	}
	if mod != nil {
		mod(l, &l.cfg)
	}
	anchorDir, err := anchors.Open(filepath.Join(l.dir, "anchors"), 0, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	configs := fakeConfigs{"SN1": routerConfig, "SN2": routerConfig, "SN3": routerConfig, "NOCERT": routerConfig}
	certs := fakeCerts{}
	for serial, id := range p.devices {
		if serial != "NOCERT" {
			certs[serial] = id.Cert
		}
	}
	for serial, id := range l.extra {
		certs[serial], configs[serial] = id.Cert, routerConfig
	}
	var deviceCerts Certificates = certs
	if l.chains != nil {
		deviceCerts = chainCerts{certs, l.chains}
	}
	core, err := fetch.New(fetch.Config{}, fetch.Deps{Configs: configs, Certificates: certs})
	if err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zapcore.DebugLevel)
	l.logs = logs
	l.srv, err = New(l.cfg, Deps{Configs: core, Certificates: deviceCerts, Anchors: anchorDir,
		Images: fakeImages{"vendoros.img": "aa" + string(bytes.Repeat([]byte("bb"), 31)), "hashing.img": ""}}, zap.New(obs), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-l.srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	l.url = "https://" + l.srv.Addrs()[0].String()
	return l
}

// client is an HTTPS client presenting id (nil: no certificate).
func (l *lab) client(id *keystore.DeviceIdentity, chain ...*x509.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(l.p.serverCA.Cert)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if id != nil {
		c := tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key}
		for _, ch := range chain {
			c.Certificate = append(c.Certificate, ch.Raw)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// post sends an RPC and returns the status, Content-Type and body.
func (l *lab) post(t *testing.T, c *http.Client, rpc, contentType string, body []byte, hdr map[string]string) (int, string, []byte) {
	t.Helper()
	status, h, b := l.postH(t, c, rpc, contentType, body, hdr)
	return status, h.Get("Content-Type"), b
}

// postH is post returning every header of the answer.
func (l *lab) postH(t *testing.T, c *http.Client, rpc, contentType string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url+pathOperations+rpcPrefix+rpc, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// event waits for the n-th event named name and returns its fields.
func (l *lab) event(t *testing.T, name string, n int) map[string]any {
	t.Helper()
	for {
		evs := l.logs.FilterField(zap.String("event", name)).All()
		if len(evs) >= n {
			return evs[n-1].ContextMap()
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("no %d-th %s event", n, name)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

func removeFile(path string) { os.Remove(path) }

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}
