package httpd

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Generic texts of refusals: they reach the client, the cause goes to the
// event.
const (
	textNotFound   = "not found"
	textBadRequest = "bad request"
	textMethod     = "method not allowed"
	textBusy       = "busy, try again later"
	textNotReady   = "not ready, try again later"
	textServer     = "server error"
)

// imagesPrefix is where images are served.
const imagesPrefix = "/images/"

// maxPath is the longest request path served: an image name of 255 bytes.
const maxPath = len(imagesPrefix) + 255

// route is what a request path asks for.
type route int

const (
	routeDenied route = iota
	routeConfig
	routeImage
)

// ServeHTTP answers one request: a config, an image, or a refusal; every
// request ends in exactly one http.fetch event.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c := connOf(r.Context())
	if c != nil {
		c.begin() // ended by connState
	}
	cfg := s.cfg.Load()
	path := requestPath(r.RequestURI)
	a := fetch.NewAttempt(clip(path, maxPath+1), remoteOf(r, c))
	a.Range = clip(r.Header.Get("Range"), 128)
	w := newWriter(rw, cfg)
	// An answer with no body (HEAD, 304) is only headers, which net/http
	// writes after the handler returns: they too go out within the grace,
	// or a client that pipelines requests and never reads holds the
	// connection for good (no header or idle timeout runs during a write).
	w.deadline(0)
	defer func() {
		a.Status, a.Bytes = w.status, w.n
		s.fetch.Finish(a)
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fetch.Identify(a)
		a.Refuse(fetch.OutcomeWriteRefused, fmt.Sprintf("method %s not allowed (GET and HEAD only)", clip(r.Method, 32)))
		w.Header().Set("Allow", "GET, HEAD")
		w.refuse(http.StatusMethodNotAllowed, textMethod)
		return
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		s.refuseBody(w, a)
		return
	}
	rt, name, status, why := routeOf(path)
	if rt == routeDenied {
		s.fetch.Identify(a)
		a.Refuse(fetch.OutcomeDeniedName, why)
		w.refuse(status, http.StatusText(status))
		return
	}
	peer := a.Remote.Addr()
	if ok, why := s.slots.acquire(peer, cfg); !ok {
		s.busy(w, a, rt, why)
		return
	}
	defer s.slots.release(peer)
	if rt == routeImage {
		s.serveImage(w, r, a, name)
		return
	}
	s.serveConfig(w, r, a)
}

// refuseBody refuses a GET or HEAD that carries a body, and closes the
// connection without reading the body (which could be dribbled forever).
func (s *Server) refuseBody(w *writer, a *fetch.Attempt) {
	s.fetch.Identify(a)
	a.Refuse(fetch.OutcomeDeniedName, "request with a body")
	w.Header().Set("Connection", "close")
	_ = w.rc.SetReadDeadline(time.Now())
	w.refuse(http.StatusBadRequest, textBadRequest)
}

// busy refuses a request when every slot is taken, naming the device for
// the event: the serial its config name carries, or for an image the one
// bound to its address.
func (s *Server) busy(w *writer, a *fetch.Attempt, rt route, why string) {
	if rt == routeImage {
		a.Image = true
		s.fetch.Identify(a)
	} else {
		s.fetch.Resolve(a)
	}
	a.Refuse(fetch.OutcomeBusy, why)
	w.Header().Set("Retry-After", retryAfter(w.cfg.RetryAfter))
	w.refuse(http.StatusServiceUnavailable, textBusy)
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// requestPath is the path of a request target exactly as sent, before any
// decoding, without its query: net/http has decoded r.URL.Path already
// ("%2e%2e" is ".." there). The absolute form (RFC 9112 section 3.2.2,
// "http://host/name") is taken by its path.
func requestPath(target string) string {
	target, _, _ = strings.Cut(target, "?")
	if strings.HasPrefix(target, "/") {
		return target
	}
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		return target // "*", an authority: refused by routeOf
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// routeOf says what a raw request path asks for: a config name (the path,
// which the fetch core resolves), an image name, or nothing, with the
// refusal's status and its reason. Nothing that needs escaping in a URL is
// ever served, so any escape, and any byte outside the names' character
// set, is refused before anything else looks at the path.
func routeOf(p string) (rt route, name string, status int, why string) {
	if !strings.HasPrefix(p, "/") {
		return routeDenied, "", http.StatusBadRequest, "request target is not a path"
	}
	if len(p) > maxPath {
		return routeDenied, "", http.StatusBadRequest, fmt.Sprintf("path longer than %d bytes", maxPath)
	}
	for i := 0; i < len(p); i++ {
		if why := badByte(p[i]); why != "" {
			return routeDenied, "", http.StatusBadRequest, why
		}
	}
	if img, ok := strings.CutPrefix(p, imagesPrefix); ok {
		if why := badSegment(img); why != "" {
			return routeDenied, "", http.StatusNotFound, why + " under " + imagesPrefix
		}
		return routeImage, img, 0, ""
	}
	if why := badSegment(p[1:]); why != "" {
		return routeDenied, "", http.StatusNotFound, why
	}
	return routeConfig, p, 0, ""
}

// badByte says why a byte of a raw path is refused; "" when it may be in a
// served name or is the path separator.
func badByte(c byte) string {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
		c == '.', c == '_', c == '-', c == '+', c == '/':
		return ""
	case c == '%':
		return "percent-encoded byte (no served name needs one)"
	case c == '\\':
		return "backslash"
	case c < 0x20 || c == 0x7f:
		return "control byte"
	case c >= 0x80:
		return "non-ASCII byte"
	}
	return fmt.Sprintf("character %q is in no served name", c)
}

// badSegment says why a path segment that should be one file name is not.
func badSegment(s string) string {
	switch {
	case s == "":
		return "no directory listing"
	case strings.Contains(s, "/"):
		return "path outside the served names (/<config name>, " + imagesPrefix + "<file>)"
	case s[0] == '.':
		return "name starting with a dot (.., hidden files)"
	}
	return ""
}

// clip makes client text fit for a log field: control bytes replaced,
// at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return fetch.ClientText(s)
}

func remoteOf(r *http.Request, c *conn) netip.AddrPort {
	if c != nil {
		return c.remote
	}
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}
