package httpd

import (
	"strings"
	"testing"
)

// FuzzRoute: whatever the request target, a path routed to a config or an
// image is one plain name: no separator, no escape, no dot-dot, no byte
// outside the names' set; and nothing panics.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/SN1.enc", "/images/os.bin", "/../etc/passwd", "/%2e%2e/", "http://h/x", "*",
		"/images/..%2f", `/a\b`, "/SN1.enc?x=../..", "//x", "/images/", "/.hidden", "/images/a+b-1.2_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p := requestPath(target)
		rt, name, status, why := routeOf(p)
		switch rt {
		case routeDenied:
			if status != 400 && status != 404 || why == "" {
				t.Fatalf("%q refused with %d %q", target, status, why)
			}
			return
		case routeImage:
			if !strings.HasPrefix(p, imagesPrefix) || name != p[len(imagesPrefix):] {
				t.Fatalf("%q: image %q from %q", target, name, p)
			}
		case routeConfig:
			if name != p || !strings.HasPrefix(name, "/") {
				t.Fatalf("%q: config %q from %q", target, name, p)
			}
			name = name[1:]
		}
		if name == "" || name[0] == '.' || len(p) > maxPath || strings.ContainsAny(name, "/\\%:?#") {
			t.Fatalf("%q routed as %v %q", target, rt, name)
		}
		for _, c := range []byte(name) {
			if badByte(c) != "" {
				t.Fatalf("%q: byte %q in a routed name", target, c)
			}
		}
	})
}

// FuzzParseStatus: net/http's own responses, or anything written on a
// connection, never panic the status reader and give log-safe text.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n400 Bad Request: x"))
	f.Add([]byte("HTTP/1.1 431"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, text := parseStatus(b)
		if strings.ContainsAny(text, "\x00\r\n") {
			t.Fatalf("text %q", text)
		}
		if strings.ContainsAny(requestTarget(string(b)), "\x00\r\n") {
			t.Fatal("target with control bytes")
		}
	})
}
