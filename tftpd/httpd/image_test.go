package httpd

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

func hexSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Images: Content-Length, ETag (the SHA-256), Range, If-None-Match,
// If-Range, HEAD; the event names the device bound to the address.
func TestImages(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("0123456789", 1000)
	h := newHarness(t, nil, map[string]string{"junos-21.4R3.tgz": content})
	etag := `"` + hexSum(content) + `"`
	tests := []struct {
		name    string
		method  string
		header  http.Header
		status  int
		body    string
		outcome string
	}{
		{"whole", "GET", nil, 200, content, fetch.OutcomeServed},
		{"HEAD", "HEAD", nil, 200, "", fetch.OutcomeServed},
		{"range", "GET", http.Header{"Range": {"bytes=100-199"}}, 206, content[100:200], fetch.OutcomeServed},
		{"resume from an offset", "GET", http.Header{"Range": {"bytes=9990-"}}, 206, content[9990:], fetch.OutcomeServed},
		{"suffix range", "GET", http.Header{"Range": {"bytes=-5"}}, 206, content[len(content)-5:], fetch.OutcomeServed},
		{"zero-length suffix ranges dropped from a set", "GET", http.Header{"Range": {"bytes=-0, 0-0 ,-00"}}, 206, content[:1], fetch.OutcomeServed},
		{"If-None-Match this version", "GET", http.Header{"If-None-Match": {etag}}, 304, "", fetch.OutcomeServed},
		{"If-None-Match another version", "GET", http.Header{"If-None-Match": {`"0000"`}}, 200, content, fetch.OutcomeServed},
		{"If-Range this version", "GET", http.Header{"Range": {"bytes=0-9"}, "If-Range": {etag}}, 206, content[:10], fetch.OutcomeServed},
		{"If-Range another version: all of it", "GET", http.Header{"Range": {"bytes=0-9"}, "If-Range": {`"0000"`}}, 200, content, fetch.OutcomeServed},
		{"If-Match another version", "GET", http.Header{"If-Match": {`"0000"`}}, 412, "", fetch.OutcomeNotFound},
		{"range past the end", "GET", http.Header{"Range": {"bytes=20000-"}}, 416, "", fetch.OutcomeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, ev := h.get(addrSN2, tt.method, "/images/junos-21.4R3.tgz", tt.header)
			if resp.StatusCode != tt.status || ev["outcome"] != tt.outcome || ev["status"] != int64(tt.status) {
				t.Fatalf("status %d, event %v", resp.StatusCode, ev)
			}
			if ev["image"] != true || ev["serial"] != "SN2" || ev["file"] != "/images/junos-21.4R3.tgz" || ev["mac"] == "" {
				t.Errorf("event %v", ev)
			}
			if tt.status >= 400 {
				return
			}
			if got := resp.Header.Get("ETag"); got != etag {
				t.Errorf("ETag %s, want %s", got, etag)
			}
			if string(body) != tt.body || ev["bytes"] != int64(len(tt.body)) {
				t.Errorf("body %d bytes (want %d), event bytes %v", len(body), len(tt.body), ev["bytes"])
			}
			if tt.method == "HEAD" && resp.ContentLength != int64(len(content)) {
				t.Errorf("HEAD: Content-Length %d", resp.ContentLength)
			}
			if tt.status == 200 && resp.Header.Get("Content-Type") != typeImage {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	// Image bytes are counted apart from config bytes.
	if v := testutil.ToFloat64(h.s.m.imageBytes); v == 0 {
		t.Error("no image bytes counted")
	}
	if n, _ := testutil.GatherAndCount(h.reg, "sealboot_http_sent_bytes_total"); n != 1 {
		t.Errorf("config bytes series: %d", n)
	}
}

// An image changed after it was hashed is not served (neither the old
// hash with the new bytes nor the other way round) until the new version
// is hashed; then it is, with its own ETag.
func TestImageChangedAfterHashing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.RetryAfter = 3 * time.Second }, map[string]string{"os.bin": "version-1"})
	path := filepath.Join(h.imgDir, "os.bin")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Rewritten in place, same size and mtime: only the change time tells.
	writeFile(t, path, "version-2")
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	resp, body, ev := h.get(addrSN1, "GET", "/images/os.bin", nil)
	if resp.StatusCode == 200 {
		// Only acceptable if the new version was hashed already.
		if resp.Header.Get("ETag") != `"`+hexSum("version-2")+`"` || string(body) != "version-2" {
			t.Fatalf("served %q with ETag %s", body, resp.Header.Get("ETag"))
		}
	} else {
		// The request finds the change itself, or the directory's watch
		// found it first and the new version is being hashed.
		reason, _ := ev["reason"].(string)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || ev["outcome"] != fetch.OutcomeNotFound ||
			!strings.Contains(reason, "changed since it was hashed") && !strings.Contains(reason, "not hashed yet") || strings.Contains(string(body), "version") {
			t.Fatalf("status %d, Retry-After %q, body %q, event %v", resp.StatusCode, resp.Header.Get("Retry-After"), body, ev)
		}
		h.waitImage("os.bin", 2)
	}
	resp, body, _ = h.get(addrSN1, "GET", "/images/os.bin", nil)
	if resp.StatusCode != 200 || string(body) != "version-2" || resp.Header.Get("ETag") != `"`+hexSum("version-2")+`"` {
		t.Fatalf("after re-hashing: %d %q %s", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
}

// An image not hashed yet is 503 with Retry-After, and never served.
func TestImageNotHashedYet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]string{"new.bin": "fresh"}, true)
	resp, body, ev := h.get(addrNone, "GET", "/images/new.bin", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "10" || string(body) == "fresh" {
		t.Fatalf("status %d, Retry-After %q, body %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if ev["outcome"] != fetch.OutcomeNotFound || ev["serial"] != "" || !strings.Contains(ev["reason"].(string), "not hashed yet") {
		t.Fatalf("event %v", ev)
	}
}

// An image cut short on disk while it is being sent (truncated in place)
// ends the response early; its event says so rather than served, since the
// device did not get the image it was promised.
func TestImageTruncatedWhileServed(t *testing.T) {
	t.Parallel()
	h := newBigHarness(t, func(c *Config) { c.Window = 64 << 10 })
	c := h.stalled(addrSN2, "/images/big.bin")
	if err := os.Truncate(filepath.Join(h.imgDir, "big.bin"), 0); err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, c) // the rest, until the server closes
	ev := h.event(c.LocalAddr().String())
	if n >= 64<<20 || ev["outcome"] != fetch.OutcomeError || ev["bytes"].(int64) >= 64<<20 ||
		!strings.Contains(ev["reason"].(string), "of 67108864 bytes sent") {
		t.Fatalf("read %d bytes; event %v", n, ev)
	}
}
