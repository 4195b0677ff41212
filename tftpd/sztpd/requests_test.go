package sztpd

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// malformedBodies are 200 request bodies that break the input in every way
// a device or an attacker might: wrong encodings, wrong types, invalid
// base64, unknown members, oversize values, truncations and random bytes.
func malformedBodies() []struct {
	ct   string
	body []byte
} {
	type b = struct {
		ct   string
		body []byte
	}
	j, x := "application/yang-data+json", "application/yang-data+xml"
	const in = `{"ietf-sztp-bootstrap-server:input":`
	out := []b{
		{j, []byte(`{`)}, {j, []byte(`[]`)}, {j, []byte(`null`)}, {j, []byte(`"input"`)}, {j, []byte(`{}`)},
		{j, []byte(in + `{"hw-model":1}}`)}, {j, []byte(in + `{"nonce":"***"}}`)}, {j, []byte(in + `{"nonce":"AAAA"}}`)},
		{j, []byte(in + `{"signed-data-preferred":true}}`)}, {j, []byte(in + `{"signed-data-preferred":"yes"}}`)},
		{j, []byte(in + `{"os-name":["a"]}}`)}, {j, []byte(in + `{"colour":"red"}}`)}, {j, []byte(in + `{"hw-model":"a","hw-model":"b"}}`)},
		{j, []byte(in + `{}} trailing`)}, {j, []byte(`{"ietf-sztp-bootstrap-server:output":{}}`)}, {j, []byte("\xff\xfe{}")},
		{x, []byte(`<input>`)}, {x, []byte(`<input xmlns="urn:example"/>`)}, {x, []byte(`<?xml version="1.0"?>`)},
		{x, []byte(`<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><nonce>!!</nonce></input>`)},
		{x, []byte(`<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><signed-data-preferred>x</signed-data-preferred></input>`)},
		{x, []byte(`<!DOCTYPE input [<!ENTITY a "aaaa">]><input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><hw-model>&a;&b;</hw-model></input>`)},
		{j, []byte(`<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"/>`)}, // XML labelled JSON
		{x, []byte(in + `{}}`)}, // JSON labelled XML
	}
	r := rand.New(rand.NewPCG(8572, 8040))
	valid, _ := (&sztp.GetBootstrappingDataInput{SignedDataPreferred: true, HWModel: "m", Nonce: bytes.Repeat([]byte{1}, 16)}).Encode(sztp.JSON)
	validXML, _ := (&sztp.GetBootstrappingDataInput{HWModel: "m", OSName: "os"}).Encode(sztp.XML)
	for len(out) < 200 {
		src, ct := valid, j
		if len(out)%2 == 1 {
			src, ct = validXML, x
		}
		body := bytes.Clone(src)
		switch len(out) % 4 {
		case 0: // truncated
			body = body[:r.IntN(len(body)-1)+1]
		case 1: // a byte changed
			body[r.IntN(len(body))] = byte(r.IntN(256))
			if bytes.Equal(body, src) {
				body = append(body, '!')
			}
		case 2: // random bytes
			body = make([]byte, 1+r.IntN(300))
			for i := range body {
				body[i] = byte(r.IntN(256))
			}
		case 3: // a number where a string belongs
			body = []byte(fmt.Sprintf(in+`{"hw-model":%d}}`, r.Int64()))
			ct = j
		}
		out = append(out, b{ct, body})
	}
	return out
}

// 200 malformed bodies get RFC 8040 errors (400, or 200 for the rare
// mutation that is still a valid input), the server stays up, and each is
// one event.
func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	c := l.client(l.p.devices["SN1"])
	refused := 0
	for i, b := range malformedBodies() {
		status, ct, resp := l.post(t, c, rpcGet, b.ct, b.body, nil)
		switch status {
		case http.StatusOK:
			// A mutation that left a valid document (a changed letter in a
			// string value): served, as it should be.
		case http.StatusBadRequest:
			refused++
			checkErrorBody(t, fmt.Sprintf("body %d %q", i, b.body), ct, resp)
		default:
			t.Errorf("body %d %q: status %d %s", i, b.body, status, resp)
		}
	}
	if refused < 150 {
		t.Fatalf("only %d of 200 malformed bodies refused", refused)
	}
	// Still serving.
	l.get(t, "SN1", sztp.JSON, &sztp.GetBootstrappingDataInput{})
}

// Requests that fail before their body is read: method, media types,
// size, resource.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(_ *lab, c *Config) { c.MaxBody = 4096 })
	c := l.client(l.p.devices["SN1"])
	tests := []struct {
		name, method, path, ct, accept string
		body                           []byte
		status                         int
		typ, tag                       string
	}{
		{"GET an RPC", http.MethodGet, pathOperations + rpcPrefix + rpcGet, "", "", nil, 405, "protocol", "operation-not-supported"},
		{"text/plain body", http.MethodPost, pathOperations + rpcPrefix + rpcGet, "text/plain", "", []byte("x"), 415, "protocol", "invalid-value"},
		{"Accept text/html", http.MethodPost, pathOperations + rpcPrefix + rpcGet, "", "text/html", nil, 406, "protocol", "invalid-value"},
		{"oversize", http.MethodPost, pathOperations + rpcPrefix + rpcGet, "application/yang-data+json", "", bytes.Repeat([]byte(" "), 5000), 413, "transport", "too-big"},
		{"unknown RPC", http.MethodPost, pathOperations + rpcPrefix + "reboot", "", "", nil, 404, "protocol", "invalid-value"},
		{"another module", http.MethodPost, pathOperations + "ietf-system:system-restart", "", "", nil, 404, "protocol", "invalid-value"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, l.url+tt.path, bytes.NewReader(tt.body))
		if tt.ct != "" {
			req.Header.Set("Content-Type", tt.ct)
		}
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		typ, tag := errorOf(t, tt.name, resp.Header.Get("Content-Type"), body)
		if resp.StatusCode != tt.status || typ != tt.typ || tag != tt.tag {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, body)
		}
		if tt.status == 405 && resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", tt.name, resp.Header.Get("Allow"))
		}
	}
}

// RFC 8040 root discovery.
func TestHostMeta(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	resp, err := l.client(nil).Get(l.url + pathHostMeta)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/xrd+xml" || !strings.Contains(string(body), `<Link rel="restconf" href="/restconf"/>`) {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// report-progress answers 204 and logs fingerprints of what the device
// reports, never the keys themselves.
func TestReportProgress(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	c := l.client(l.p.devices["SN1"])
	anchor, err := cms.Certificates([]*x509.Certificate{l.p.vendor.Cert})
	if err != nil {
		t.Fatal(err)
	}
	keyData := []byte("\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + strings.Repeat("k", 32))
	for i, in := range []*sztp.ReportProgressInput{
		{ProgressType: "bootstrap-initiated"},
		{ProgressType: "config-error", Message: "line 3:\x00 bad\n"},
		{ProgressType: "bootstrap-complete", SSHHostKeys: []sztp.SSHHostKey{{Algorithm: "ssh-ed25519", KeyData: keyData}}, TrustAnchorCerts: [][]byte{anchor}},
	} {
		for _, f := range []sztp.Format{sztp.JSON, sztp.XML} {
			body, _ := in.Encode(f)
			status, _, resp := l.post(t, c, rpcReport, f.MediaType(), body, nil)
			if status != http.StatusNoContent || len(resp) != 0 {
				t.Fatalf("%s: %d %s", in.ProgressType, status, resp)
			}
		}
		ev := l.event(t, "sztp.progress", 2*i+1)
		if ev["serial"] != "SN1" || ev["progress_type"] != in.ProgressType {
			t.Fatalf("event %v", ev)
		}
		if in.ProgressType == "config-error" && ev["message"] != "line 3: bad?" {
			t.Errorf("message %q", ev["message"])
		}
		if in.ProgressType == "bootstrap-complete" {
			keys := fmt.Sprint(ev["ssh_host_keys"])
			if !strings.Contains(keys, "ssh-ed25519 SHA256:") || strings.Contains(keys, base64.StdEncoding.EncodeToString(keyData)) {
				t.Errorf("ssh_host_keys %s", keys)
			}
			if fmt.Sprint(ev["trust_anchor_certs"]) == "[]" {
				t.Errorf("trust anchors %v", ev["trust_anchor_certs"])
			}
		}
	}
	// An unauthenticated report is refused like a request.
	body, _ := (&sztp.ReportProgressInput{ProgressType: "informational"}).Encode(sztp.JSON)
	if status, _, _ := l.post(t, l.client(nil), rpcReport, "application/yang-data+json", body, nil); status != 401 {
		t.Fatalf("unauthenticated report: %d", status)
	}
	if ev := l.event(t, "sztp.request", 1); ev["rpc"] != rpcReport || ev["outcome"] != OutcomeUnauthenticated {
		t.Fatalf("event %v", ev)
	}
}

// A device's boot profile gives its image (download URI on the built-in
// HTTP server at the address the device reached us on, SHA-256 from the
// images directory), its scripts and how to handle its config; an image
// still being hashed is 503, to ask again.
func TestProfile(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(l *lab, c *Config) {
		pre := l.dir + "/pre.sh"
		writeFile(pre, []byte("#!/bin/sh\necho pre\n"))
		c.Profiles = []Profile{
			{Name: "other-vendor", Vendor: "stranger", Image: "x.img"},
			{Name: "hashing", Serials: []string{"SN2"}, Image: "hashing.img"},
			{Name: "model-x", Vendor: "vendor", Model: "model-*", Image: "vendoros.img", OSName: "VendorOS", OSVersion: "17.3", PreScript: pre, ConfigurationHandling: "replace"},
			{Name: "image only", Serials: []string{"NOCFG"}, OSName: "VendorOS", OSVersion: "17.3"},
		}
	})
	got, _ := l.get(t, "SN1", sztp.JSON, &sztp.GetBootstrappingDataInput{HWModel: "MODEL-X"})
	oi := got.Info.Onboarding
	want := "http://127.0.0.1:8080/images/vendoros.img"
	if oi.BootImage == nil || oi.BootImage.OSName != "VendorOS" || oi.BootImage.DownloadURIs[0] != want ||
		len(oi.BootImage.ImageVerifications[0].HashValue) != 32 || oi.ConfigurationHandling != "replace" || string(oi.PreConfigurationScript) != "#!/bin/sh\necho pre\n" {
		t.Fatalf("onboarding %+v %+v", oi, oi.BootImage)
	}
	// Another model: no profile, config only.
	got, _ = l.get(t, "SN1", sztp.JSON, &sztp.GetBootstrappingDataInput{HWModel: "other"})
	if got.Info.Onboarding.BootImage != nil {
		t.Fatal("a profile matched another model")
	}
	// No config, but a profile: its image alone.
	got, _ = l.get(t, "NOCFG", sztp.XML, &sztp.GetBootstrappingDataInput{})
	if oi := got.Info.Onboarding; oi.Configuration != nil || oi.BootImage == nil || oi.BootImage.OSVersion != "17.3" {
		t.Fatalf("image-only profile: %+v", oi)
	}
	status, h, resp := l.postH(t, l.client(l.p.devices["SN2"]), rpcGet, "", nil, nil)
	if typ, tag := errorOf(t, "image being hashed", h.Get("Content-Type"), resp); status != http.StatusServiceUnavailable ||
		h.Get("Retry-After") == "" || typ != "application" || tag != "resource-denied" {
		t.Fatalf("image being hashed: %d Retry-After %q %s", status, h.Get("Retry-After"), resp)
	}
}

// A redirect server sends every device elsewhere, unsigned even when the
// device prefers signed data (RFC 8572 section 7.3), with the other
// server's trust anchor.
func TestRedirect(t *testing.T) {
	t.Parallel()
	l := newLab(t, func(l *lab, c *Config) {
		ta := l.dir + "/other-ca.pem"
		writeFile(ta, l.p.serverCA.CertPEM)
		c.Sign = ModeNever
		c.Redirect = []Redirect{{Address: "sztp2.example.com", Port: 8443, TrustAnchor: ta}, {Address: "2001:db8::2"}}
	})
	got, out := l.get(t, "NOCFG", sztp.JSON, &sztp.GetBootstrappingDataInput{SignedDataPreferred: true})
	ri := got.Info.Redirect
	if ri == nil || len(ri.BootstrapServers) != 2 || ri.BootstrapServers[0].Port != 8443 || out.ReportingLevel != "" {
		t.Fatalf("redirect %+v", got.Info)
	}
	certs, err := cms.ParseCertificates(ri.BootstrapServers[0].TrustAnchor)
	if err != nil || len(certs) != 1 || !certs[0].Equal(l.p.serverCA.Cert) {
		t.Fatalf("trust anchor: %v", err)
	}
	if ev := l.event(t, "sztp.request", 1); ev["conveyed"] != "redirect" || ev["mode"] != "encrypted" {
		t.Fatalf("event %v", ev)
	}
}

// Update reads the files again; a broken configuration is refused whole
// and the running one stays.
func TestUpdate(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	bad := l.cfg
	bad.OwnerKey = l.cfg.TLSKey // not the owner certificate's key
	if err := l.srv.Update(bad); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Fatalf("a wrong owner key was accepted: %v", err)
	}
	bad = l.cfg
	bad.Sign = "sometimes"
	if err := l.srv.Check(bad); err == nil || !strings.Contains(err.Error(), "sztp.sign") {
		t.Fatalf("sign: %v", err)
	}
	good := l.cfg
	good.Sign, good.Encrypt = ModeNever, ModeNever
	if err := l.srv.Update(good); err != nil {
		t.Fatal(err)
	}
	got, _ := l.get(t, "SN1", sztp.JSON, &sztp.GetBootstrappingDataInput{})
	if got.Signed || got.Encrypted {
		t.Fatal("the update was not applied")
	}
}

// A progress report is logged at Info, which the per-packet rate limit
// lets through: a device reporting tens of thousands of SSH host keys or
// trust anchor certificates in one body under sztp.max_body must not make
// one log line of megabytes. The lists are cut, and say how many more.
func TestReportProgressManyKeysBoundedEvent(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	c := l.client(l.p.devices["SN1"])
	anchor, err := cms.Certificates([]*x509.Certificate{l.p.vendor.Cert})
	if err != nil {
		t.Fatal(err)
	}
	in := &sztp.ReportProgressInput{ProgressType: "bootstrap-complete"}
	for i := range 20000 {
		in.SSHHostKeys = append(in.SSHHostKeys, sztp.SSHHostKey{Algorithm: "a", KeyData: []byte{byte(i), byte(i >> 8)}})
	}
	for range 500 {
		in.TrustAnchorCerts = append(in.TrustAnchorCerts, anchor)
	}
	body, err := in.Encode(sztp.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > int(l.srv.set.Load().cfg.MaxBody) {
		t.Fatalf("body of %d bytes is over max_body", len(body))
	}
	if status, _, resp := l.post(t, c, rpcReport, sztp.JSON.MediaType(), body, nil); status != http.StatusNoContent {
		t.Fatalf("%d %s", status, resp)
	}
	ev := l.event(t, "sztp.progress", 1)
	keys, _ := ev["ssh_host_keys"].([]any)
	certs, _ := ev["trust_anchor_certs"].([]any)
	if len(keys) > maxListed+1 || len(certs) > maxListed+1 {
		t.Fatalf("event lists %d host keys and %d certificates", len(keys), len(certs))
	}
	if last := fmt.Sprint(keys[len(keys)-1]); last != fmt.Sprintf("and %d more", 20000-maxListed) {
		t.Errorf("last host key entry %q", last)
	}
	if last := fmt.Sprint(certs[len(certs)-1]); last != fmt.Sprintf("and %d more", 500-maxListed) {
		t.Errorf("last certificate entry %q", last)
	}
}
