package device

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// imageTries bounds the requests of one image fetch: the first and the
// resumptions after a cut.
const imageTries = 8

// imageFetch is one image download, resumed with a Range request (RFC
// 9110 section 14.2) when the connection drops, and hashed as it comes.
type imageFetch struct {
	url     string
	h       hash.Hash
	got     int64  // bytes received and hashed
	size    int64  // the whole image, as the server states it; -1 unknown
	etag    string // as the server sent it
	resumes int    // requests after the first
	restart int    // times the server sent the whole image again
	cut     int64  // drop the connection once got reaches it; 0 never
	cuts    int
}

// permanent marks an error that another request would not cure.
type permanent struct{ error }

// fetchImage downloads url from the leased address and checks that its
// SHA-256 is the one the server states in its ETag (sealboot's ETag is
// the image's SHA-256, the one it logs). With cutAfter set, the first
// connection is dropped after that many bytes, to test the resumption.
func (cfg *Config) fetchImage(ctx context.Context, local netip.Addr, url string, cutAfter int64) (*imageFetch, error) {
	f := &imageFetch{url: url, h: sha256.New(), size: -1, cut: cutAfter}
	c := cfg.httpClient(local)
	var err error
	for try := range imageTries {
		if try > 0 {
			f.resumes++
		}
		var done bool
		if done, err = f.once(ctx, c); done {
			return f, f.check()
		}
		var p permanent
		if errors.As(err, &p) || ctx.Err() != nil {
			break
		}
	}
	return f, fmt.Errorf("image %s: %w", url, err)
}

// once is one request: the whole image, or the rest of it.
func (f *imageFetch) once(ctx context.Context, c *http.Client) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, permanent{err}
	}
	if f.got > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", f.got))
		if f.etag != "" { // the rest of this version, or all of a new one
			req.Header.Set("If-Range", f.etag)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close() // unread: the connection is dropped
	if err := f.start(resp); err != nil {
		return false, err
	}
	body := io.LimitReader(resp.Body, maxImage-f.got)
	cutting := f.cut > f.got
	if cutting {
		body = io.LimitReader(body, f.cut-f.got)
	}
	n, err := io.Copy(f.h, body)
	f.got += n
	switch {
	case cutting && f.got == f.cut && (f.size < 0 || f.got < f.size):
		f.cut = 0
		f.cuts++
		return false, fmt.Errorf("connection dropped after %d bytes (cut-after)", f.got)
	case err != nil:
		return false, err
	case f.got >= maxImage:
		return false, permanent{fmt.Errorf("larger than %d bytes", int64(maxImage))}
	case f.size >= 0 && f.got != f.size:
		return false, fmt.Errorf("%d of %d bytes", f.got, f.size)
	}
	return true, nil
}

// start reads the response's status and headers: a 200 is the whole image
// (from its first byte again, when the server ignored the Range or the
// image changed), a 206 the rest of the one started.
func (f *imageFetch) start(resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		if f.got > 0 {
			f.h.Reset()
			f.got = 0
			f.restart++
		}
		f.size, f.etag = resp.ContentLength, resp.Header.Get("ETag")
		return nil
	case resp.StatusCode == http.StatusPartialContent && f.got > 0:
		first, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || first != f.got {
			return permanent{fmt.Errorf("asked for the bytes from %d, the server sent %q", f.got, resp.Header.Get("Content-Range"))}
		}
		if tag := resp.Header.Get("ETag"); tag != "" && tag != f.etag {
			return permanent{fmt.Errorf("the rest of version %s came as version %s", f.etag, tag)}
		}
		f.size = total
		return nil
	}
	return permanent{fmt.Errorf("%s", resp.Status)}
}

// contentRange reads "bytes FIRST-LAST/TOTAL" (RFC 9110 section 14.4).
func contentRange(s string) (first, total int64, ok bool) {
	r, ok := strings.CutPrefix(s, "bytes ")
	span, tot, ok2 := strings.Cut(r, "/")
	a, _, ok3 := strings.Cut(span, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	return first, total, err1 == nil && err2 == nil
}

// check compares the image's SHA-256 with the one the server stated.
func (f *imageFetch) check() error {
	want := strings.Trim(strings.TrimPrefix(f.etag, "W/"), `"`)
	if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("image %s: the server states no SHA-256 (ETag %q)", f.url, f.etag)
	}
	if got := f.sum(); !strings.EqualFold(got, want) {
		return fmt.Errorf("image %s: SHA-256 %s, the server stated %s", f.url, got, want)
	}
	return nil
}

func (f *imageFetch) sum() string { return hex.EncodeToString(f.h.Sum(nil)) }
