package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
)

// hostilePaths are request targets outside the two served sets, or tricks
// to reach outside them; none must be served.
var hostilePaths = []string{
	"/../etc/passwd", "/../../../../etc/shadow", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd", "/.%2e/etc/passwd",
	"/%252e%252e/etc/passwd", "/%c0%ae%c0%ae/etc/passwd", "/images/..%2f..%2fconfigs%2fJNHOST01.cfg",
	"/images/../configs/JNHOST01.cfg", "/images/%2e%2e/%2e%2e/etc/passwd", "/..%5c..%5cetc%5cpasswd",
	"/JNHOST01.cfg", "/configs/JNHOST01.cfg", "/state/leases4.journal", "/keys/JNHOST01.crt", "/", "/images/",
	"/images/.", "/images/..", "//etc/passwd", "/etc/passwd", "/~root/.ssh/id_rsa", "/JNHOST01.enc;.cfg",
	"/images/big.img/../../JNHOST01.cfg", "/images/link.img", "/images/.hidden", "/images/a/b.img",
	"/JNHOST01.enc%00.cfg", "/%0d%0aSet-Cookie:%20x=1", "/" + strings.Repeat("A", 300) + ".enc",
	"/images/" + strings.Repeat("B", 5000), "/JNHOST01.enc", // another address's config: the binding check
}

// rawHostile are requests no client library would send.
func rawHostile() []string {
	req := func(head string) string { return head + "\r\nHost: sealboot\r\nConnection: close\r\n\r\n" }
	var out []string
	for _, p := range hostilePaths {
		out = append(out, req("GET "+p+" HTTP/1.1"), req("HEAD "+p+" HTTP/1.1"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "get", "BREW", strings.Repeat("G", 2000)} {
		for _, target := range []string{"/JNHOST01.enc", "/images/big.img"} {
			out = append(out, req(m+" "+target+" HTTP/1.1"))
		}
	}
	return append(out,
		"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n",
		req("OPTIONS * HTTP/1.1"),
		req("GET /"+strings.Repeat("A", 20000)+" HTTP/1.1"),
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("p", 20000)+"\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\n"+strings.Repeat("X-A: b\r\n", 3000)+"\r\n",
		"\x00\x01\x02\x03\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"+strings.Repeat("\x00", 40),
		"GET /images/big.img HTTP/9.9\r\nHost: x\r\n\r\n",
		"GET /images/big.img\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nExpect: gimme\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET\t/images/big.img\tHTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /images/bi\x00g.img HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /images/b\x01ig.img HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /images/bïg.img HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET file:///etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://sealboot/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=2000000-\r\nConnection: close\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=5-1\r\nConnection: close\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=9999999-,99999999-\r\nConnection: close\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=-0\r\nConnection: close\r\n\r\n",
		"\r\n\r\n",
		"GET /images/big.img HTTP/1.1\r\nHost: x\r\n", // half a request, then the client closes
	)
}

// curlHostile are the same tricks through curl, a real client.
func curlHostile(url string) [][]string {
	base := []string{"curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"}
	var out [][]string
	for _, p := range hostilePaths {
		if len(p) > 1000 {
			continue
		}
		out = append(out, append(append([]string(nil), base...), url+p), append(append([]string(nil), base...), "-I", url+p))
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "MKCOL", "LOCK", "SEARCH"} {
		out = append(out, append(append([]string(nil), base...), "-X", m, url+"/images/big.img"))
	}
	for _, r := range []string{"1048576-", "2000000-3000000", "99999999999-"} {
		out = append(out, append(append([]string(nil), base...), "-r", r, url+"/images/big.img"))
	}
	return append(out, append(append([]string(nil), base...), "-H", "X-Pad: "+strings.Repeat("q", 20000), url+"/images/big.img"))
}

// send writes one raw request from the client namespace and returns the
// status code of the answer, 0 when the connection closed without one.
func send(t *testing.T, l *lab, req string, closeAfterWrite bool) int {
	t.Helper()
	var c net.Conn
	if err := l.cli.NS.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", "192.0.2.1:80", 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard
	if _, err := io.WriteString(c, req); err != nil {
		return 0 // refused mid-way (huge headers): a closed connection
	}
	if closeAfterWrite {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0 // closed without an answer
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	var head strings.Builder
	_ = resp.Header.Write(&head)
	for _, leak := range []string{"s3cr3t-hostile", "root:", "SECRET-OUTSIDE", "BEGIN CERTIFICATE"} {
		if strings.Contains(string(body), leak) || strings.Contains(head.String(), leak) {
			t.Fatalf("the answer to %q carries %q", clipReq(req), leak)
		}
	}
	return resp.StatusCode
}

func clipReq(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// TestHTTPHostile200: over 200 malformed or hostile requests to the real
// sealboot from a client namespace, raw and through curl (traversal and
// encoding tricks, huge headers, slowloris, ranges past the end, methods
// other than GET and HEAD): each gets an error status or a closed
// connection and exactly one http.fetch event with its reason (or, past
// the log's rate limit of 20 lines a message in 10 s, a count in the
// log.suppressed summary); nothing is
// served, no answer carries the plaintext config, a certificate or a file
// outside the two sets, and sealboot still serves afterwards.
func TestHTTPHostile200(t *testing.T) {
	need(t, "curl")
	l, s, _ := imageLab(t, 1<<20, "  header_timeout: 1s\n")
	_ = os.WriteFile(filepath.Join(l.dir, "outside.txt"), []byte("SECRET-OUTSIDE"), 0o644)
	images := filepath.Join(l.dir, "state", "images")
	_ = os.Symlink(filepath.Join(l.dir, "outside.txt"), filepath.Join(images, "link.img"))
	_ = os.WriteFile(filepath.Join(images, ".hidden"), []byte("SECRET-OUTSIDE"), 0o644)
	l.provision(t, s, "JNHOST01", keystore.P256, "set system secret s3cr3t-hostile\n", false)
	before := len(s.events("http.fetch"))

	n := 0
	for _, req := range rawHostile() {
		half := strings.HasSuffix(req, "Host: x\r\n") // half a request
		if code := send(t, l, req, half); code != 0 && code < 400 {
			t.Errorf("%q: status %d", clipReq(req), code)
		}
		n++
	}
	for _, argv := range curlHostile("http://192.0.2.1") {
		code := strings.TrimSpace(run(t, l.cli.NS, true, argv...))
		if c, _ := strconv.Atoi(code); c != 0 && c < 400 {
			t.Errorf("%v: status %s", argv[len(argv)-1], code)
		}
		n++
	}
	// Slowloris: headers dribbled, never ended; cut at header_timeout.
	for range 3 {
		if code := send(t, l, "GET /images/big.img HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", false); code != 0 {
			t.Errorf("slowloris: status %d", code)
		}
		n++
	}
	// Each request is one http.fetch event, or one of the lines the log's
	// rate limit dropped and counted in a log.suppressed summary (written
	// 10 s after the first drop).
	var evs []map[string]any
	suppressed := 0
	deadline := time.Now().Add(time.Minute) // a hang guard
	for time.Now().Before(deadline) {
		evs, suppressed = s.events("http.fetch")[before:], 0
		for _, sum := range s.events("log.suppressed") {
			if sum["logger"] == "httpd" && strings.HasPrefix(sum["message"].(string), "http fetch") {
				suppressed += int(sum["suppressed"].(float64))
			}
		}
		if len(evs)+suppressed >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	outcomes := map[string]int{}
	for _, ev := range evs {
		outcomes[ev["outcome"].(string)]++
		if ev["outcome"] == "served" || ev["reason"] == "" || ev["bytes"].(float64) != 0 && ev["status"] != float64(416) {
			t.Errorf("event %v", ev)
		}
	}
	t.Logf("%d hostile requests: %d http.fetch events %v, %d more counted by the log's rate limit", n, len(evs), outcomes, suppressed)
	if n < 200 || len(evs)+suppressed != n {
		t.Fatalf("%d requests gave %d http.fetch events and %d suppressed, want one each and at least 200", n, len(evs), suppressed)
	}
	if code := run(t, l.cli.NS, false, "curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.1/images/big.img"); code != "200" {
		t.Fatalf("after the hostile requests: %s", code)
	}
	if s.cmd.ProcessState != nil {
		t.Fatalf("sealboot exited: %v", s.cmd.ProcessState)
	}
}
