package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseJuniper43(t *testing.T) {
	t.Parallel()
	b := bytes.Join([][]byte{{0x00, 10}, []byte("images/a.b"), {0x01, 6}, []byte("SN.enc"), {0x02, 7}, []byte("symlink"),
		{0x03, 4}, []byte("HTTP"), {0x04, 5}, []byte("x.tgz"), {0x05, 4}, []byte("8080"), {0x06, 9}, []byte("trunc")}, nil)
	got := parseJuniper43(b)
	want := juniperZTP{image: "images/a.b", config: "SN.enc", mode: "http", imageAlt: "x.tgz", port: "8080"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := parseJuniper43([]byte{0x01, 3, 'a', 'b', 0, 0x03}); got != (juniperZTP{config: "ab"}) {
		t.Fatalf("NUL-padded and truncated: %+v", got)
	}
}

// The transport decides what each file DHCP named is fetched with, and
// where an image comes from.
func TestTargets(t *testing.T) {
	t.Parallel()
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	jun := func(mode, port string) juniperZTP {
		return juniperZTP{config: "SN.enc", mode: mode, port: port, image: "images/junos.tgz", imageAlt: "images/alt.tgz"}
	}
	tests := []struct {
		name, transport, imageFlag string
		lease                      dhcpLease
		targets                    []string
		image, imageErr            string
	}{
		{"juniper http with port", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc", "http://192.0.2.1:8080/SN.enc"}, juniper: jun("http", "8080")},
			[]string{"http://192.0.2.1:8080/SN.enc"}, "http://192.0.2.1:8080/images/junos.tgz", ""},
		{"juniper https", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc"}, juniper: jun("https", "")},
			[]string{"https://192.0.2.1/SN.enc"}, "https://192.0.2.1/images/junos.tgz", ""},
		{"juniper tftp mode", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc"}, juniper: juniperZTP{config: "SN.enc", mode: "tftp"}},
			[]string{"SN.enc"}, "", ""},
		{"juniper tftp mode with an image", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc"}, juniper: jun("tftp", "")},
			[]string{"SN.enc"}, "", "over HTTP only"},
		{"juniper forced tftp", TransportTFTP, "", dhcpLease{server: v4, files: []string{"SN.enc", "http://192.0.2.1:8080/SN.enc"}, juniper: jun("http", "8080")},
			[]string{"SN.enc"}, "http://192.0.2.1:8080/images/junos.tgz", ""},
		{"juniper 04 alone", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc"}, juniper: juniperZTP{config: "SN.enc", mode: "http", imageAlt: "images/alt.tgz"}},
			[]string{"http://192.0.2.1/SN.enc"}, "http://192.0.2.1/images/alt.tgz", ""},
		{"plain forced http", TransportHTTP, "", dhcpLease{server: v4, files: []string{"SN.enc"}}, []string{"http://192.0.2.1/SN.enc"}, "", ""},
		{"plain forced http over v6", TransportHTTP, "", dhcpLease{server: v6, files: []string{"SN.enc"}}, []string{"http://[2001:db8::1]/SN.enc"}, "", ""},
		{"plain auto", TransportAuto, "", dhcpLease{server: v4, files: []string{"SN.enc"}}, []string{"SN.enc"}, "", ""},
		{"arista url, auto", TransportAuto, "", dhcpLease{server: v4, files: []string{"http://192.0.2.1:8080/SN.enc"}}, []string{"http://192.0.2.1:8080/SN.enc"}, "", ""},
		{"arista url, forced tftp", TransportTFTP, "", dhcpLease{server: v4, files: []string{"http://192.0.2.1:8080/SN.enc"}}, []string{"SN.enc"}, "", ""},
		{"an image given", TransportAuto, "http://192.0.2.9/images/eos.swi", dhcpLease{server: v4, files: []string{"SN.enc"}, juniper: jun("http", "")},
			[]string{"http://192.0.2.1/SN.enc"}, "http://192.0.2.9/images/eos.swi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{Transport: tt.transport, ImageURL: tt.imageFlag}
			if got := cfg.targets(&tt.lease); strings.Join(got, " ") != strings.Join(tt.targets, " ") {
				t.Errorf("targets %q, want %q", got, tt.targets)
			}
			img, err := cfg.imageURL(&tt.lease)
			if img != tt.image || (err == nil) != (tt.imageErr == "") || (err != nil && !strings.Contains(err.Error(), tt.imageErr)) {
				t.Errorf("image %q, %v; want %q, %q", img, err, tt.image, tt.imageErr)
			}
		})
	}
}

// imageServer serves one image as sealboot does (ETag = its SHA-256,
// Range through http.ServeContent) and records each request's Range.
type imageServer struct {
	*httptest.Server
	mu     sync.Mutex
	data   []byte
	etag   string // "" the SHA-256 of data; "-" none
	ranges []string
	// whole ignores Range; dropAt closes the first response after that
	// many bytes of the body.
	whole  bool
	dropAt int
}

func newImageServer(t *testing.T, size int) *imageServer {
	s := &imageServer{data: make([]byte, size)}
	for i := range s.data {
		s.data[i] = byte(i * 7)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *imageServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	data, etag, whole, drop := s.data, s.etag, s.whole, s.dropAt
	s.dropAt = 0
	s.mu.Unlock()
	if r.URL.Path != "/images/os.bin" {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	switch etag {
	case "":
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case "-":
	default:
		w.Header().Set("ETag", etag)
	}
	if whole || drop > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if drop > 0 {
			_, _ = w.Write(data[:drop])
			w.(http.Flusher).Flush()
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		_, _ = w.Write(data)
		return
	}
	http.ServeContent(w, r, "os.bin", time.Time{}, bytes.NewReader(data))
}

func (s *imageServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func TestFetchImage(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	local := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		cut     int64
		setup   func(*imageServer)
		ranges  []string
		resumes int
		err     string
	}{
		{"whole", 0, nil, []string{""}, 0, ""},
		{"cut and resumed", 300000, nil, []string{"", "bytes=300000-"}, 1, ""},
		{"cut at the very end: nothing to resume", size, nil, []string{""}, 0, ""},
		{"cut past the end", size + 1, nil, []string{""}, 0, ""},
		{"the server drops the connection", 0, func(s *imageServer) { s.dropAt = 5000 }, []string{"", "bytes=5000-"}, 1, ""},
		{"range ignored: again from the start", 300000, func(s *imageServer) { s.whole = true }, []string{"", "bytes=300000-"}, 1, ""},
		{"wrong hash", 0, func(s *imageServer) { s.etag = `"` + strings.Repeat("ab", 32) + `"` }, []string{""}, 0, "the server stated abab"},
		{"no hash stated", 0, func(s *imageServer) { s.etag = "-" }, []string{""}, 0, "states no SHA-256"},
		{"an ETag that is no hash", 0, func(s *imageServer) { s.etag = `"5f3-1a2b"` }, []string{""}, 0, "states no SHA-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newImageServer(t, size)
			if tt.setup != nil {
				tt.setup(s)
			}
			cfg := &Config{HTTPTimeout: 5 * time.Second}
			f, err := cfg.fetchImage(t.Context(), local, s.URL+"/images/os.bin", tt.cut)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if got := s.requests(); strings.Join(got, "|") != strings.Join(tt.ranges, "|") || f.resumes != tt.resumes {
				t.Fatalf("requests %q (%d resumes), want %q (%d)", got, f.resumes, tt.ranges, tt.resumes)
			}
			want := sha256.Sum256(s.data)
			if f.got != size || f.sum() != hex.EncodeToString(want[:]) {
				t.Fatalf("got %d bytes, sha256 %s", f.got, f.sum())
			}
		})
	}
}

// A 404 is not retried; a changed image (If-Range no longer matching) is
// fetched whole and checked against its new hash.
func TestFetchImageRefusedOrChanged(t *testing.T) {
	t.Parallel()
	local := netip.MustParseAddr("127.0.0.1")
	s := newImageServer(t, 4096)
	cfg := &Config{HTTPTimeout: 5 * time.Second}
	if _, err := cfg.fetchImage(t.Context(), local, s.URL+"/images/none.bin", 0); err == nil || !strings.Contains(err.Error(), "404") || len(s.requests()) != 1 {
		t.Fatalf("404: %v after %d requests", err, len(s.requests()))
	}
	s2 := newImageServer(t, 100000)
	s2.dropAt = 1000
	changed := make(chan struct{})
	orig := s2.Config.Handler
	s2.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			s2.mu.Lock()
			s2.data = append([]byte("new version "), s2.data...)
			s2.mu.Unlock()
			close(changed)
		}
		orig.ServeHTTP(w, r)
	})
	f, err := cfg.fetchImage(t.Context(), local, s2.URL+"/images/os.bin", 0)
	<-changed
	if err != nil || f.restart != 1 || f.got != 100012 {
		t.Fatalf("changed image: %v, %d restarts, %d bytes", err, f.restart, f.got)
	}
}

// A device fetches the image its DHCP offered once: a later attempt (its
// config was not ready) does not fetch it again, and the cut is made once.
func TestBootImageOnce(t *testing.T) {
	t.Parallel()
	s := newImageServer(t, 200000)
	u := strings.TrimPrefix(s.URL, "http://")
	host, port, _ := strings.Cut(u, ":")
	lease := &dhcpLease{addr: netip.MustParseAddr("127.0.0.1"), server: netip.MustParseAddr(host),
		juniper: juniperZTP{config: "SN.enc", mode: "http", port: port, image: "images/os.bin"}}
	cfg := &Config{CutAfter: 65536, HTTPTimeout: 5 * time.Second}
	var res Result
	if !cfg.bootImage(t.Context(), lease, &res) || res.ImageResumes != 1 || res.ImageBytes != 200000 || res.Image != s.URL+"/images/os.bin" {
		t.Fatalf("first attempt: %+v", res)
	}
	var again Result
	if !cfg.bootImage(t.Context(), lease, &again) || again.ImageSHA256 != res.ImageSHA256 || len(s.requests()) != 2 {
		t.Fatalf("second attempt: %+v after %d requests", again, len(s.requests()))
	}
	lease.juniper.image = "images/other.bin"
	var missing Result
	if cfg.bootImage(t.Context(), lease, &missing) || missing.Outcome != OutcomeImageMismatch || !strings.Contains(missing.Error, "404") {
		t.Fatalf("a missing image: %+v", missing)
	}
}
