package httpd

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Hostile and malformed requests: each gets an error status (or a closed
// connection), one event with the cause, and never a file outside the two
// sets nor any plaintext.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]string{"os.bin": "IMAGE-CONTENT", ".hidden": "HIDDEN"})
	secret := h.t.TempDir() + "/shadow"
	writeFile(t, secret, "root:SECRET-OUTSIDE")
	symlink(t, secret, h.imgDir+"/link.bin")
	writeFile(t, h.imgDir+"/../outside.bin", "SECRET-OUTSIDE")
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: sealboot\r\nConnection: close\r\n\r\n"
	}
	method := func(m, target string) string {
		return m + " " + target + " HTTP/1.1\r\nHost: sealboot\r\nConnection: close\r\n\r\n"
	}
	denied, refused, notFound := fetch.OutcomeDeniedName, fetch.OutcomeWriteRefused, fetch.OutcomeNotFound
	tests := []struct {
		name    string
		req     string
		status  string
		outcome string
		reason  string // substring of the event's reason
	}{
		{"dot-dot", get("/../etc/passwd"), "404", denied, "path outside"},
		{"dot-dot after a name", get("/SN1.enc/../../etc/passwd"), "404", denied, "path outside"},
		{"dot-dot alone", get("/.."), "404", denied, "starting with a dot"},
		{"dot", get("/."), "404", denied, "starting with a dot"},
		{"encoded dot-dot", get("/%2e%2e/etc/passwd"), "400", denied, "percent-encoded"},
		{"encoded dot-dot upper", get("/%2E%2E%2Fetc%2Fpasswd"), "400", denied, "percent-encoded"},
		{"encoded slash in image", get("/images/..%2f..%2fetc%2fpasswd"), "400", denied, "percent-encoded"},
		{"encoded backslash", get("/images/..%5c..%5cSN1.cfg"), "400", denied, "percent-encoded"},
		{"double-encoded", get("/%252e%252e/etc/passwd"), "400", denied, "percent-encoded"},
		{"overlong UTF-8 dots", get("/%c0%ae%c0%ae/etc/passwd"), "400", denied, "percent-encoded"},
		{"encoded NUL", get("/SN1.enc%00.jpg"), "400", denied, "percent-encoded"},
		{"encoded name", get("/%53N1.enc"), "400", denied, "percent-encoded"},
		{"backslashes", get(`/..\..\etc\passwd`), "400", denied, "backslash"},
		{"raw NUL", get("/SN1.enc\x00"), "400", denied, "HTTP parser"},
		{"raw control byte", get("/SN1\x01.enc"), "400", denied, "HTTP parser"},
		{"non-ASCII", get("/SN1\xc3\xa9.enc"), "400", denied, "non-ASCII"},
		{"absolute path", get("/etc/passwd"), "404", denied, "path outside"},
		{"double slash", get("//etc/passwd"), "404", denied, "path outside"},
		{"windows drive", get("/C:/Windows/win.ini"), "400", denied, "in no served name"},
		{"absolute-form traversal", get("http://sealboot/../../etc/passwd"), "404", denied, "path outside"},
		{"absolute-form other scheme", get("file:///etc/passwd"), "400", denied, "not a path"},
		{"asterisk", get("*"), "400", denied, "not a path"},
		{"overlong name", get("/" + strings.Repeat("A", 300) + ".enc"), "400", denied, "longer than"},
		{"huge request line", get("/" + strings.Repeat("A", 20000)), "431", denied, "HTTP parser"},
		{"huge header", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 20000) + "\r\n\r\n", "431", denied, "HTTP parser"},
		{"many headers", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 3000) + "\r\n", "431", denied, "HTTP parser"},
		{"directory listing", get("/"), "404", denied, "no directory listing"},
		{"images listing", get("/images/"), "404", denied, "no directory listing"},
		{"image dot-dot", get("/images/.."), "404", denied, "starting with a dot"},
		{"image outside", get("/images/../outside.bin"), "404", denied, "path outside"},
		{"image subdirectory", get("/images/a/b.bin"), "404", denied, "path outside"},
		{"hidden image", get("/images/.hidden"), "404", denied, "starting with a dot"},
		{"image symlink", get("/images/link.bin"), "404", notFound, "symbolic link"},
		{"semicolon", get("/SN1.enc;type=a"), "400", denied, "in no served name"},
		{"fragment", get("/SN1.enc#x"), "400", denied, "in no served name"},
		{"tilde", get("/~root/.ssh/id_rsa"), "400", denied, "in no served name"},
		{"plaintext config name", get("/SN1.cfg"), "404", notFound, "matches no pattern"},
		{"another device's config", get("/SN2.enc"), "404", fetch.OutcomeBindingMismatch, "leased to serial"},
		{"POST", "POST /SN1.enc HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd", "405", refused, "method POST"},
		{"PUT image", "PUT /images/os.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd", "405", refused, "method PUT"},
		{"DELETE", method("DELETE", "/SN1.enc"), "405", refused, "method DELETE"},
		{"OPTIONS *", method("OPTIONS", "*"), "405", refused, "method OPTIONS"},
		{"TRACE", method("TRACE", "/"), "405", refused, "method TRACE"},
		{"PROPFIND", method("PROPFIND", "/"), "405", refused, "method PROPFIND"},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", "405", refused, "method CONNECT"},
		{"lower-case get", method("get", "/SN1.enc"), "405", refused, "method get"},
		{"GET with a body", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "400", denied, "with a body"},
		{"GET chunked", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", denied, "with a body"},
		{"unknown transfer coding", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501", denied, "HTTP parser"},
		{"HTTP/9.9", "GET /SN1.enc HTTP/9.9\r\nHost: x\r\n\r\n", "505", denied, "HTTP parser"},
		{"no version", "GET /SN1.enc\r\n\r\n", "400", denied, "HTTP parser"},
		{"no Host", "GET /SN1.enc HTTP/1.1\r\n\r\n", "400", denied, "Host"},
		{"two Hosts", "GET /SN1.enc HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400", denied, "HTTP parser"},
		{"bad header name", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "400", denied, "HTTP parser"},
		{"Expect", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nExpect: gimme\r\n\r\n", "417", denied, "HTTP parser"},
		{"TLS on the plain port", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + strings.Repeat("\x00", 40), "400", denied, "HTTP parser"},
		{"range past the end", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nRange: bytes=999999-\r\nConnection: close\r\n\r\n", "416", notFound, "range not satisfiable"},
		{"zero-length suffix range", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nRange: bytes=-0\r\nConnection: close\r\n\r\n", "416", notFound, "range not satisfiable"},
		{"zero-length suffix ranges", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\nRange: bytes=-0, -00,\r\nConnection: close\r\n\r\n", "416", notFound, "range not satisfiable"},
		{"image zero-length suffix range", "GET /images/os.bin HTTP/1.1\r\nHost: x\r\nRange: bytes= -000\r\nConnection: close\r\n\r\n", "416", notFound, "range not satisfiable"},
		{"image range past the end", "GET /images/os.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-200\r\nConnection: close\r\n\r\n", "416", notFound, "range not satisfiable"},
		{"garbage", "\x00\x01\x02\x03\r\n\r\n", "400", denied, "HTTP parser"},
		{"half a request", "GET /SN1.enc HTTP/1.1\r\nHost: x\r\n", "400", denied, "HTTP parser"},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d hostile requests", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ev := h.raw(tt.req)
			if got := statusOf(resp); got != tt.status {
				t.Errorf("status %s, want %s; response %q", got, tt.status, head(resp))
			}
			if ev["outcome"] != tt.outcome || !strings.Contains(ev["reason"].(string), tt.reason) {
				t.Errorf("event %v, want outcome %s and reason with %q", ev, tt.outcome, tt.reason)
			}
			for _, leak := range []string{"SECRET-OUTSIDE", "s3cr3t", "IMAGE-CONTENT", "HIDDEN", "root:"} {
				if strings.Contains(resp, leak) {
					t.Fatalf("response carries %q: %q", leak, resp)
				}
			}
		})
	}
	// The server still serves.
	if resp, _, ev := h.get(addrSN1, "GET", "/images/os.bin", nil); resp.StatusCode != 200 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("after the hostile requests: %d %v", resp.StatusCode, ev)
	}
}

func head(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// Requests on a kept-alive connection: one event each, and none for the
// response net/http flushes after the handler returns (it is not a
// refusal of its own).
func TestOneEventPerRequestKeptAlive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]string{"os.bin": "IMAGE"})
	c := h.dial(addrSN1)
	br := bufio.NewReader(c)
	var want int
	for _, req := range []string{
		"GET /SN1.enc HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /SN1.enc HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /images/os.bin HTTP/1.1\r\nHost: x\r\n\r\n",
		"DELETE /SN1.enc HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		method, _, _ := strings.Cut(req, " ")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		want++
	}
	c.Close()
	for testutil.ToFloat64(h.s.m.conns) != 0 { // the server has seen the close
		select {
		case <-t.Context().Done():
			t.Fatal("connection not closed")
		case <-time.After(time.Millisecond):
		}
	}
	var got []map[string]any
	for _, ev := range h.events() {
		if ev["remote"] == c.LocalAddr().String() {
			got = append(got, ev)
		}
	}
	if len(got) != want {
		t.Fatalf("%d events for %d requests: %v", len(got), want, got)
	}
	for _, ev := range got {
		if strings.Contains(ev["reason"].(string), "HTTP parser") {
			t.Fatalf("a served response taken for a refusal: %v", ev)
		}
	}
}
