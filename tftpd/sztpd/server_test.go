package sztpd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/voucher"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

func (l *lab) trust(serial string, nonce []byte) sztp.DeviceTrust {
	pool := x509.NewCertPool()
	pool.AddCert(l.p.masa.Cert)
	id := l.p.devices[serial]
	return sztp.DeviceTrust{Serial: serial, Key: id.Key, MASARoots: pool, Nonce: nonce, IDevIDIssuer: id.Cert.AuthorityKeyId}
}

// get asks for bootstrapping data as serial and opens the answer as the
// device would.
func (l *lab) get(t *testing.T, serial string, f sztp.Format, in *sztp.GetBootstrappingDataInput) (*sztp.Received, *sztp.GetBootstrappingDataOutput) {
	t.Helper()
	body, err := in.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	status, ct, resp := l.post(t, l.client(l.p.devices[serial]), rpcGet, f.MediaType(), body, nil)
	if status != http.StatusOK || ct != f.MediaType() {
		t.Fatalf("status %d %s: %s", status, ct, resp)
	}
	out, err := sztp.DecodeGetBootstrappingDataOutput(resp, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sztp.Open(out, l.trust(serial, in.Nonce))
	if err != nil {
		t.Fatal(err)
	}
	return got, out
}

// The four security modes of RFC 8572 section 3, JSON and XML, for RSA,
// P-256 and P-384 devices: the device opens what it gets and finds its
// config.
func TestModes(t *testing.T) {
	t.Parallel()
	for _, m := range []struct{ sign, encrypt, name string }{
		{ModeNever, ModeNever, "unsigned"}, {ModeAlways, ModeNever, "signed"},
		{ModeNever, ModeAlways, "encrypted"}, {ModeAlways, ModeAlways, "signed+encrypted"},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, func(_ *lab, c *Config) { c.Sign, c.Encrypt = m.sign, m.encrypt })
			n := 0
			for _, serial := range []string{"SN1", "SN2", "SN3"} {
				for _, f := range []sztp.Format{sztp.JSON, sztp.XML} {
					got, out := l.get(t, serial, f, &sztp.GetBootstrappingDataInput{HWModel: "model-x"})
					n++
					if got.Signed != (m.sign == ModeAlways) || got.Encrypted != (m.encrypt == ModeAlways) || got.Format != f {
						t.Fatalf("%s %s: signed %v encrypted %v format %s", serial, f, got.Signed, got.Encrypted, got.Format)
					}
					if oi := got.Info.Onboarding; oi == nil || !bytes.Equal(oi.Configuration, routerConfig) || oi.ConfigurationHandling != "merge" {
						t.Fatalf("%s %s: onboarding %+v", serial, f, got.Info.Onboarding)
					}
					if out.ReportingLevel != "minimal" {
						t.Errorf("reporting level %q", out.ReportingLevel)
					}
					ev := l.event(t, "sztp.request", n)
					if ev["outcome"] != "served" || ev["mode"] != m.name || ev["serial"] != serial || ev["conveyed"] != "onboarding" || ev["auth"] != "tls" || ev["vendor"] != "vendor" {
						t.Fatalf("event %v", ev)
					}
				}
			}
		})
	}
}

// auto signs when the device has a voucher and encrypts when the keystore
// has its certificate; the nonce is honoured; the XML/JSON choice follows
// Accept.
func TestAutoModeAndNegotiation(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	got, _ := l.get(t, "SN1", sztp.JSON, &sztp.GetBootstrappingDataInput{SignedDataPreferred: true, Nonce: bytes.Repeat([]byte{9}, 16)})
	if !got.Signed || !got.Encrypted {
		t.Fatalf("auto: signed %v encrypted %v", got.Signed, got.Encrypted)
	}
	body, _ := (&sztp.GetBootstrappingDataInput{}).Encode(sztp.JSON)
	status, ct, resp := l.post(t, l.client(l.p.devices["SN1"]), rpcGet, "application/yang-data+json", body, map[string]string{"Accept": "application/yang-data+xml"})
	if status != http.StatusOK || ct != "application/yang-data+xml" || !bytes.HasPrefix(resp, []byte("<output")) {
		t.Fatalf("Accept xml: %d %s %.40s", status, ct, resp)
	}
	// No body at all is an empty input.
	status, _, _ = l.post(t, l.client(l.p.devices["SN2"]), rpcGet, "", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("empty body: %d", status)
	}
}

// Refusals get the RFC 8040 error with the status of RFC 8572 section 7
// and RFC 8040 section 7 (status, error-type and error-tag together), and
// one sztp.request event with the reason.
func TestRefusals(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(l *lab, c *Config) {
		c.Sign = ModeAuto
	})
	p := l.p
	nonce := bytes.Repeat([]byte{1}, 16)
	writeVoucher := func(serial string, mod func(*voucher.Voucher)) {
		if err := writeFile(l.cfg.VouchersDir+"/"+serial+".vcj", p.voucherFor(t, serial, mod)); err != nil {
			t.Fatal(err)
		}
	}
	input := func(in sztp.GetBootstrappingDataInput) []byte { b, _ := in.Encode(sztp.JSON); return b }
	const in = `{"ietf-sztp-bootstrap-server:input":`
	sn1 := l.client(p.devices["SN1"])
	tests := []struct {
		name      string
		client    *http.Client
		hdr       map[string]string
		body      []byte
		setup     func()
		status    int
		typ, tag  string
		outcome   string
		reason    string
		challenge bool // WWW-Authenticate: Basic
	}{
		{"unknown CA", l.client(p.alien), nil, nil, nil, 401, "protocol", "access-denied", OutcomeUntrusted, "does not chain", true},
		{"no credentials", l.client(nil), nil, nil, nil, 401, "protocol", "access-denied", OutcomeUnauthenticated, "no client certificate", true},
		{"wrong Basic password", l.client(nil), map[string]string{"Authorization": basic("NOCERT", "wrong")}, nil, nil, 401, "protocol", "access-denied", OutcomeBadPassword, "wrong password", true},
		{"unknown Basic user", l.client(nil), map[string]string{"Authorization": basic("SN9", "right")}, nil, nil, 401, "protocol", "access-denied", OutcomeBadPassword, "no password", true},
		{"revoked pin (RMA)", l.client(p.rma), nil, nil, nil, 403, "protocol", "access-denied", OutcomePinMismatch, "another key", false},
		{"unknown serial", l.client(p.devices["NOCFG"]), nil, nil, nil, 404, "application", "invalid-value", "not_found", "no boot profile", false},
		{"signed data wanted, no voucher", l.client(p.devices["SN2"]), nil, input(sztp.GetBootstrappingDataInput{SignedDataPreferred: true}),
			func() { removeFile(l.cfg.VouchersDir + "/SN2.vcj") }, 404, "application", "invalid-value", OutcomeNoVoucher, "SN2.vcj is not in vouchers_dir", false},
		{"voucher nonce differs", l.client(p.devices["SN3"]), nil, input(sztp.GetBootstrappingDataInput{Nonce: nonce}),
			func() {
				writeVoucher("SN3", func(v *voucher.Voucher) { v.ExpiresOn, v.Nonce = time.Time{}, bytes.Repeat([]byte{2}, 16) })
			},
			404, "application", "invalid-value", OutcomeVoucherInvalid, "nonce", false},
		{"voucher expired", l.client(p.devices["SN1"]), nil, nil,
			func() { writeVoucher("SN1", func(v *voucher.Voucher) { v.ExpiresOn = time.Now().Add(-time.Minute) }) }, 404, "application", "invalid-value", OutcomeVoucherInvalid, "expired", false},
		// The input: RFC 8040 section 3.6.3 (400, errors with the path).
		{"not JSON", sn1, nil, []byte(`{`), nil, 400, "rpc", "malformed-message", OutcomeBadRequest, "input", false},
		{"nonce of 3 bytes (length 16..32)", sn1, nil, []byte(in + `{"nonce":"AAAA"}}`), nil, 400, "protocol", "invalid-value", OutcomeBadRequest, "nonce", false},
		{"hw-model a number", sn1, nil, []byte(in + `{"hw-model":1}}`), nil, 400, "protocol", "invalid-value", OutcomeBadRequest, "hw-model", false},
		{"RFC 9646 csr-support, not implemented", sn1, nil, []byte(in + `{"ietf-sztp-csr:csr-support":{}}}`), nil, 400, "protocol", "unknown-element", OutcomeBadRequest, "csr-support", false},
	}
	for i, tt := range tests {
		if tt.setup != nil {
			tt.setup()
		}
		ct := ""
		if tt.body != nil {
			ct = "application/yang-data+json"
		}
		status, h, resp := l.postH(t, tt.client, rpcGet, ct, tt.body, tt.hdr)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, resp)
			continue
		}
		if typ, tag := errorOf(t, tt.name, h.Get("Content-Type"), resp); typ != tt.typ || tag != tt.tag {
			t.Errorf("%s: error-type %q error-tag %q, want %q %q", tt.name, typ, tag, tt.typ, tt.tag)
		}
		if got := h.Get("WWW-Authenticate"); (got == `Basic realm="sztp"`) != tt.challenge {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, got)
		}
		ev := l.event(t, "sztp.request", i+1)
		if ev["outcome"] != tt.outcome || !strings.Contains(ev["reason"].(string), tt.reason) || ev["status"] != int64(tt.status) ||
			(tt.name == "unknown CA" && ev["serial"] != "SN1") {
			t.Errorf("%s: event %v", tt.name, ev)
		}
	}
	// Basic with the right password is served.
	status, _, _ := l.post(t, l.client(nil), rpcGet, "", nil, map[string]string{"Authorization": basic("NOCERT", "right")})
	if status != http.StatusOK {
		t.Fatalf("Basic: %d", status)
	}
}

// With client certificates only (no sztp.basic_auth) there is no HTTP
// challenge to send, and a 401 must carry one (RFC 7235 section 3.1):
// every authentication refusal is 403 access-denied, without
// WWW-Authenticate.
func TestRefusalsCertificatesOnly(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(_ *lab, c *Config) { c.BasicAuth = "" })
	p := l.p
	for i, tt := range []struct {
		name    string
		client  *http.Client
		hdr     map[string]string
		outcome string
	}{
		{"unknown CA", l.client(p.alien), nil, OutcomeUntrusted},
		{"no credentials", l.client(nil), nil, OutcomeUnauthenticated},
		{"Basic credentials", l.client(nil), map[string]string{"Authorization": basic("NOCERT", "right")}, OutcomeUnauthenticated},
		{"revoked pin (RMA)", l.client(p.rma), nil, OutcomePinMismatch},
	} {
		status, h, resp := l.postH(t, tt.client, rpcGet, "", nil, tt.hdr)
		typ, tag := errorOf(t, tt.name, h.Get("Content-Type"), resp)
		if status != http.StatusForbidden || typ != "protocol" || tag != "access-denied" || h.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %q %q WWW-Authenticate %q", tt.name, status, typ, tag, h.Get("WWW-Authenticate"))
		}
		if ev := l.event(t, "sztp.request", i+1); ev["outcome"] != tt.outcome || ev["status"] != int64(http.StatusForbidden) {
			t.Errorf("%s: event %v", tt.name, ev)
		}
	}
	if status, _, _ := l.post(t, l.client(p.devices["SN1"]), rpcGet, "", nil, nil); status != http.StatusOK {
		t.Fatalf("a device with its certificate: %d", status)
	}
}

// Beyond sztp.max_requests in progress a request is refused at once: 503
// with Retry-After, resource-denied (transport).
func TestBusy(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(_ *lab, c *Config) { c.MaxRequests = 1 })
	l.srv.slots <- struct{}{} // one request in progress
	status, h, resp := l.postH(t, l.client(l.p.devices["SN1"]), rpcGet, "", nil, nil)
	typ, tag := errorOf(t, "busy", h.Get("Content-Type"), resp)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || typ != "transport" || tag != "resource-denied" {
		t.Fatalf("busy: %d Retry-After %q %q %q", status, h.Get("Retry-After"), typ, tag)
	}
	<-l.srv.slots
	if status, _, _ := l.post(t, l.client(l.p.devices["SN1"]), rpcGet, "", nil, nil); status != http.StatusOK {
		t.Fatalf("after: %d", status)
	}
}

// errorOf checks an RFC 8040 errors document (one error, in the answer's
// format) and returns its error-type and error-tag.
func errorOf(t *testing.T, name, ct string, body []byte) (typ, tag string) {
	t.Helper()
	var doc struct {
		Errors struct {
			Error []struct {
				Type string `json:"error-type" xml:"error-type"`
				Tag  string `json:"error-tag" xml:"error-tag"`
			} `json:"error" xml:"error"`
		} `json:"ietf-restconf:errors"`
	}
	var err error
	switch ct {
	case "application/yang-data+json":
		err = json.Unmarshal(body, &doc)
	case "application/yang-data+xml":
		if !bytes.HasPrefix(body, []byte(`<errors xmlns="urn:ietf:params:xml:ns:yang:ietf-restconf"><error><error-type>`)) {
			t.Errorf("%s: not an RFC 8040 error: %s", name, body)
			return "", ""
		}
		err = xml.Unmarshal(body, &doc.Errors)
	default:
		t.Errorf("%s: error content type %q", name, ct)
		return "", ""
	}
	if err != nil || len(doc.Errors.Error) != 1 || doc.Errors.Error[0].Tag == "" || doc.Errors.Error[0].Type == "" {
		t.Errorf("%s: not an RFC 8040 error: %s", name, body)
		return "", ""
	}
	return doc.Errors.Error[0].Type, doc.Errors.Error[0].Tag
}

// checkErrorBody checks an RFC 8040 errors document.
func checkErrorBody(t *testing.T, name, ct string, body []byte) {
	t.Helper()
	errorOf(t, name, ct, body)
}

// TestChainFromTheKeystore (issue 14 item 4): a device that sends its
// IDevID without the intermediate that issued it is authenticated with the
// chain the keystore kept from the vendor's bundle, and only for the key
// pinned to its serial; without that chain it is untrusted.
func TestChainFromTheKeystore(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	inter, err := p.vendor.IssueCA("Vendor IDevID CA", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := inter.Issue("SN-INT", keystore.P256, keystore.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := inter.Issue("SN-INT", keystore.P256, keystore.IssueOptions{}) // same serial, another key
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		chains  map[string][]*x509.Certificate
		client  *keystore.DeviceIdentity
		status  int
		outcome string
	}{
		{"leaf alone, chain kept", map[string][]*x509.Certificate{"SN-INT": {inter.Cert}}, dev, http.StatusOK, "served"},
		{"leaf alone, no chain kept", nil, dev, http.StatusUnauthorized, OutcomeUntrusted},
		{"another key for the serial", map[string][]*x509.Certificate{"SN-INT": {inter.Cert}}, other, http.StatusUnauthorized, OutcomeUntrusted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, func(l *lab, _ *Config) {
				l.extra = map[string]*keystore.DeviceIdentity{"SN-INT": dev}
				l.chains = tt.chains
			})
			status, _, body := l.post(t, l.client(tt.client), rpcGet, "", nil, nil)
			if ev := l.event(t, "sztp.request", 1); status != tt.status || ev["outcome"] != tt.outcome {
				t.Fatalf("status %d, event %v: %s", status, ev, body)
			}
		})
	}
}

// Chains are verified at every request, and a client's intermediates can
// make a verification cost up to x509's 100 signature checks (about 11 ms
// here with 60 RSA-4096 intermediates, against 0.1 ms for a refusal): an
// unauthenticated client repeating tiny requests on one connection would
// keep the CPUs busy. So a client's chain of more than maxClientChain
// certificates is refused before any path is built (IDevID chains have
// one to three CAs), and a certificate refusal closes the connection: each
// new try costs the client a handshake.
func TestLongChainRefused(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	p := l.p
	pad := make([]*x509.Certificate, maxClientChain) // leaf + maxClientChain: one too many
	for i := range pad {
		pad[i] = p.vendor.Cert
	}
	post := func(c *http.Client) (status int, closed bool) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url+pathOperations+rpcPrefix+rpcGet, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Close
	}
	status, closed := post(l.client(p.devices["SN1"], pad...))
	ev := l.event(t, "sztp.request", 1)
	if status != http.StatusUnauthorized || ev["outcome"] != OutcomeUntrusted || !strings.Contains(ev["reason"].(string), fmt.Sprintf("%d certificates", maxClientChain+1)) {
		t.Fatalf("status %d, event %v", status, ev)
	}
	if !closed {
		t.Error("refused certificate, connection kept")
	}
	// At the limit it is served, on a connection that stays open.
	if status, closed := post(l.client(p.devices["SN1"], pad[1:]...)); status != http.StatusOK || closed {
		t.Fatalf("chain of %d: status %d, closed %v", maxClientChain, status, closed)
	}
	// A certificate of an unknown CA closes the connection too.
	if _, closed := post(l.client(p.alien)); !closed {
		t.Error("untrusted certificate, connection kept")
	}
}

// HTTP/2 is not offered: a client's streams on one connection would each
// have its chain verified, however many, and the connection a refusal
// closes would go on serving the streams already open. Devices speak
// HTTP/1.1 (RFC 8572 needs nothing more).
func TestHTTP11Only(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	roots := x509.NewCertPool()
	roots.AddCert(l.p.serverCA.Cert)
	c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url+pathOperations+rpcPrefix+rpcGet, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS.NegotiatedProtocol == "h2" {
		t.Fatalf("answered over %s (ALPN %q)", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
}

// One device cannot hold the server's capacity: a device (or whoever has
// its key) sending bodies slowly held a sztp.max_requests slot per request
// for up to request_timeout, and with enough of them every other device
// got 503. Past maxPerDevice requests in progress, the device's next one is
// refused busy; other devices are served.
func TestBusyPerDevice(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	sn1 := l.client(l.p.devices["SN1"])
	var writers []*io.PipeWriter
	done := make(chan struct{}, maxPerDevice)
	for range maxPerDevice {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, l.url+pathOperations+rpcPrefix+rpcGet, pr)
		req.Header.Set("Content-Type", "application/yang-data+json")
		go func() {
			if resp, err := sn1.Do(req); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
		if _, err := pw.Write([]byte(`{"ietf-sztp-bootstrap-server:input":`)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, pw := range writers {
			pw.CloseWithError(errors.New("test over"))
		}
		for range maxPerDevice {
			<-done
		}
	})
	for len(l.srv.slots) < maxPerDevice {
		select {
		case <-t.Context().Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
	status, h, resp := l.postH(t, sn1, rpcGet, "", nil, nil)
	if typ, tag := errorOf(t, "busy", h.Get("Content-Type"), resp); status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || typ != "transport" || tag != "resource-denied" {
		t.Fatalf("SN1 with %d requests in progress: %d %q %q", maxPerDevice, status, typ, tag)
	}
	if status, _, _ := l.post(t, l.client(l.p.devices["SN2"]), rpcGet, "", nil, nil); status != http.StatusOK {
		t.Fatalf("another device: %d", status)
	}
}

// A basic_auth file with a line longer than a scanner takes is refused,
// naming the line, rather than read up to it: the devices listed after it
// would have lost their passwords without a word.
func TestPasswordsLongLineRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwords")
	body := "# serial sha256\nA1 " + PasswordHash("a") + "\n# " + strings.Repeat("x", 70<<10) + "\nB2 " + PasswordHash("b") + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readPasswords(file)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("readPasswords = %v, want an error naming line 3", err)
	}
}
