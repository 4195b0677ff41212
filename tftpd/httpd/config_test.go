package httpd

import (
	"bytes"
	"net/http"
	"net/netip"
	"testing"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// The sealed configs over HTTP: the same names, binding check, plaintext
// policy and sealing as TFTP, through the fetch core.
func TestConfigs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	tests := []struct {
		name        string
		from        netip.Addr
		method      string
		path        string
		header      http.Header
		status      int
		outcome     string
		serial      string
		contentType string
		plain       string // what the body opens to (sealed) or is (plaintext)
	}{
		{"own config", addrSN1, "GET", "/SN1.enc", nil, 200, fetch.OutcomeServed, "SN1", typeSealed, config1},
		{"own config, RSA", addrSN2, "GET", "/SN2.enc", nil, 200, fetch.OutcomeServed, "SN2", typeSealed, config2},
		{"fixed name through the binding", addrSN1, "GET", "/network-confg", nil, 200, fetch.OutcomeServed, "SN1", typeSealed, config1},
		{"another serial's config", addrSN2, "GET", "/SN1.enc", nil, 404, fetch.OutcomeBindingMismatch, "SN1", "", ""},
		{"no lease", addrNone, "GET", "/SN1.enc", nil, 404, fetch.OutcomeBindingMismatch, "SN1", "", ""},
		{"the plaintext name", addrSN1, "GET", "/SN1.cfg", nil, 404, fetch.OutcomeNotFound, "", "", ""},
		{"plaintext allowed for LAB", addrLAB, "GET", "/LAB.enc", nil, 200, fetch.OutcomeServed, "LAB", typePlaintext, labText},
		{"no certificate, no plaintext", addrNOC, "GET", "/NOCERT.enc", nil, 404, fetch.OutcomeNoCertificate, "NOCERT", "", ""},
		{"HEAD", addrSN1, "HEAD", "/SN1.enc", nil, 200, fetch.OutcomeServed, "SN1", typeSealed, ""},
		{"range past the end", addrSN1, "GET", "/SN1.enc", http.Header{"Range": {"bytes=100000-"}}, 416, fetch.OutcomeNotFound, "SN1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, ev := h.get(tt.from, tt.method, tt.path, tt.header)
			if resp.StatusCode != tt.status || ev["outcome"] != tt.outcome || ev["serial"] != tt.serial || ev["status"] != int64(tt.status) {
				t.Fatalf("status %d, event %v", resp.StatusCode, ev)
			}
			if ev["file"] != tt.path || ev["image"] != false {
				t.Errorf("event file %v image %v", ev["file"], ev["image"])
			}
			if tt.status != 200 {
				if bytes.Contains(body, []byte("s3cr3t")) {
					t.Fatalf("refusal carries the config: %q", body)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.method == "HEAD" {
				if len(body) != 0 || resp.ContentLength <= 0 {
					t.Errorf("HEAD: %d body bytes, Content-Length %d", len(body), resp.ContentLength)
				}
				return
			}
			got := string(body)
			if tt.contentType == typeSealed {
				plain, err := cms.Open(h.keys[tt.serial].Key, body)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				got = string(plain)
			}
			if got != tt.plain || ev["bytes"] != int64(len(body)) {
				t.Fatalf("got %q (%d bytes), event bytes %v", got, len(body), ev["bytes"])
			}
		})
	}
}

// A range of a sealed config is that part of the same bytes (a retry gets
// the cached seal).
func TestConfigRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	_, full, _ := h.get(addrSN1, "GET", "/SN1.enc", nil)
	resp, part, ev := h.get(addrSN1, "GET", "/SN1.enc", http.Header{"Range": {"bytes=10-29"}})
	if resp.StatusCode != 206 || !bytes.Equal(part, full[10:30]) {
		t.Fatalf("status %d, %q", resp.StatusCode, part)
	}
	if ev["range"] != "bytes=10-29" || ev["bytes"] != int64(20) || ev["outcome"] != fetch.OutcomeServed || ev["cached"] != true {
		t.Fatalf("event %v", ev)
	}
}
