package httpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Content types. The sealed config is CMS (RFC 5652) in the encoding
// seal.format names, PEM or DER.
const (
	typeSealed    = "application/pkcs7-mime"
	typePlaintext = "text/plain"
	typeImage     = "application/octet-stream"
)

// serveConfig sends what the fetch core prepares for the attempt: the
// sealed config, or plaintext where the policy allows it. Range requests
// work on those bytes.
func (s *Server) serveConfig(w *writer, r *http.Request, a *fetch.Attempt) {
	data, err := s.fetch.Prepare(a)
	if err != nil {
		if errors.Is(err, fetch.ErrServer) {
			w.refuse(http.StatusInternalServerError, textServer)
			return
		}
		w.refuse(http.StatusNotFound, textNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", typePlaintext)
	if a.Encrypted {
		h.Set("Content-Type", typeSealed)
	}
	h.Set("Cache-Control", "no-store") // one device's file: no shared cache keeps it
	w.limit(a.Start, int64(len(data)))
	if r.Header.Get("Range") == "" {
		// The whole: one write of the cached bytes. http.ServeContent
		// would copy them through a new 32 KiB buffer, a write each.
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
	} else if !zeroSuffix(w, r, int64(len(data))) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
	s.ended(a, w, r)
}

// serveImage streams an image from disk (sendfile), the version that was
// hashed only, with its SHA-256 as ETag; net/http answers Range, If-Range
// and If-None-Match from it.
func (s *Server) serveImage(w *writer, r *http.Request, a *fetch.Attempt, name string) {
	a.Image = true
	s.fetch.Identify(a)
	if s.images == nil {
		a.Refuse(fetch.OutcomeNotFound, "no images are served")
		w.refuse(http.StatusNotFound, textNotFound)
		return
	}
	f, info, sum, err := s.images.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.Refuse(fetch.OutcomeNotFound, err.Error())
		w.refuse(http.StatusNotFound, textNotFound)
		return
	case err != nil:
		a.Refuse(fetch.OutcomeNotFound, err.Error())
		w.Header().Set("Retry-After", retryAfter(w.cfg.RetryAfter))
		w.refuse(http.StatusServiceUnavailable, textNotReady)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", typeImage)
	h.Set("ETag", `"`+sum+`"`)
	a.Fingerprint = "" // the image's SHA-256 is its ETag and its image.state event
	w.limit(a.Start, info.Size())
	if !zeroSuffix(w, r, info.Size()) {
		http.ServeContent(w, r, "", info.ModTime(), &sized{File: f, size: info.Size()})
	}
	s.ended(a, w, r)
	s.m.imageBytes.Add(float64(w.n))
}

// zeroSuffix answers 416 to a Range whose ranges are all zero-length
// suffix ranges ("bytes=-0", "bytes=-0,-00"), and drops them from a set
// with others ("bytes=0-9,-0" is served as "bytes=0-9"): RFC 9110 section
// 14.1.2 counts a suffix range satisfiable only with a non-zero length,
// and net/http answers each with a part (or a 206) whose Content-Range has
// its last byte before its first.
func zeroSuffix(w *writer, r *http.Request, size int64) bool {
	spec, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !ok {
		return false
	}
	var keep []string
	dropped := false
	for _, part := range strings.Split(spec, ",") {
		p := strings.Trim(part, " \t") // as net/http trims each range
		switch {
		case len(p) >= 2 && p[0] == '-' && strings.Trim(p[1:], "0") == "":
			dropped = true
		case p != "":
			keep = append(keep, p)
		}
	}
	if !dropped {
		return false
	}
	if len(keep) > 0 {
		r.Header.Set("Range", "bytes="+strings.Join(keep, ","))
		return false
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	http.Error(w, "invalid range: failed to overlap", http.StatusRequestedRangeNotSatisfiable)
	return true
}

// ended sets the outcome of an attempt once net/http has answered it.
func (s *Server) ended(a *fetch.Attempt, w *writer, r *http.Request) {
	var ne net.Error
	promised, _ := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	switch {
	case w.err != nil && s.stopping.Load():
		a.Refuse(fetch.OutcomeAborted, "sealboot stopped before the transfer ended")
	case w.err != nil && errors.As(w.err, &ne) && ne.Timeout():
		a.Refuse(fetch.OutcomeTimeout, fmt.Sprintf("client took in less than http.min_rate (%d bytes/s, after %s of grace)", w.cfg.MinRate, w.cfg.TransferGrace))
	case w.err != nil:
		a.Refuse(fetch.OutcomeAborted, "client went away: "+fetch.ClientText(w.err.Error()))
	case (w.status == http.StatusOK || w.status == http.StatusPartialContent) && r.Method != http.MethodHead && w.n < promised:
		// The file ended early (truncated in place since it was hashed):
		// net/http closes the connection, and the device lacks the rest.
		a.Refuse(fetch.OutcomeError, fmt.Sprintf("file ended early: %d of %d bytes sent (changed in place while being served)", w.n, promised))
	case w.status == http.StatusRequestedRangeNotSatisfiable:
		a.Refuse(fetch.OutcomeNotFound, "range not satisfiable")
	case w.status == http.StatusPreconditionFailed:
		a.Refuse(fetch.OutcomeNotFound, "precondition failed (If-Match or If-Unmodified-Since)")
	case w.status >= 500:
		a.Refuse(fetch.OutcomeError, fmt.Sprintf("status %d while serving", w.status))
	case w.status >= 400:
		a.Refuse(fetch.OutcomeNotFound, fmt.Sprintf("status %d", w.status))
	default: // 200, 206, or 304 (the client has this version)
		a.Outcome = fetch.OutcomeServed
	}
}

// sized is an image file cut to the size that was hashed, so that a file
// that grew since is served as it was hashed. It keeps *os.File's
// SyscallConn, which is what lets net/http hand the file to sendfile.
type sized struct {
	*os.File
	size int64
}

func (f *sized) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekEnd {
		return f.File.Seek(f.size+offset, io.SeekStart)
	}
	return f.File.Seek(offset, whence)
}
