// Package httpd is sealboot's HTTP server (HTTP/1.1, RFC 9110 and 9112;
// optionally over TLS). It serves two sets of files and nothing else:
//
//   - the same sealed configs as TFTP, at /<name> for the names the fetch
//     core (package fetch) resolves, with the same binding check,
//     plaintext policy, sealing and cache: this package only carries the
//     bytes the core prepares;
//   - OS images from the images directory (package images) at
//     /images/<file>, plaintext, streamed from disk with sendfile, with
//     the file's SHA-256 as ETag, and Range requests so that a device that
//     lost its link resumes.
//
// Every request is exactly one http.fetch event (the fetch core writes it),
// requests that net/http refuses before any handler runs (malformed, header
// too large, headers too slow) included. Each request has a deadline that
// grows with what it sends (a minimum rate), so a slow reader cannot hold a
// slot; concurrent requests are capped in all and per client address. See
// README.md.
package httpd

import (
	"io/fs"
	"os"
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Config configures the server. Zero values take the defaults shown.
type Config struct {
	Listen  []string // host:port; at least one
	TLSCert string   // PEM certificate chain; with TLSKey, HTTPS on every listen address
	TLSKey  string

	HeaderTimeout time.Duration // request line and headers must arrive within it; default 10s
	IdleTimeout   time.Duration // a kept-alive connection with no request is closed after it; default 60s
	// A response must go out at MinRate bytes per second at least: each
	// window of Window bytes within TransferGrace + Window/MinRate, the
	// whole within TransferGrace + size/MinRate.
	TransferGrace   time.Duration // default 10s
	MinRate         int64         // bytes per second; default 64 KiB
	Window          int64         // default 1 MiB
	MaxRequests     int           // concurrent requests; default 256
	MaxPerClient    int           // concurrent requests per client address; default 8
	RetryAfter      time.Duration // the Retry-After of a 503 (busy, image not hashed yet); default 10s
	MaxHeaderBytes  int           // request line and headers; default 8 KiB
	ShutdownTimeout time.Duration // how long a stop waits for requests in progress; default 5s
}

// Fetcher is the transport-independent fetch, as this transport uses it.
// *fetch.Transport implements it.
type Fetcher interface {
	// Resolve sets the serial the attempt's name carries (for a refusal
	// before Prepare).
	Resolve(a *fetch.Attempt)
	// Identify sets the serial and MAC bound to the attempt's address (for
	// requests that name no config).
	Identify(a *fetch.Attempt)
	// Prepare checks the attempt and returns the bytes to send, or
	// fetch.ErrNotFound / fetch.ErrServer with the attempt's outcome set.
	Prepare(a *fetch.Attempt) ([]byte, error)
	// Finish writes the attempt's one event.
	Finish(a *fetch.Attempt)
}

// Images gives an image's file, opened, for serving. *images.Dir
// implements it.
type Images interface {
	// Open returns the file of the version that was hashed, its
	// description and its SHA-256 (hex). An error matching
	// fs.ErrNotExist means there is no such image to serve; any other
	// error means not now (not hashed yet, changed since): try later.
	Open(name string) (f *os.File, info fs.FileInfo, sha256 string, err error)
}

func (c Config) withDefaults() Config {
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.TransferGrace <= 0 {
		c.TransferGrace = 10 * time.Second
	}
	if c.MinRate <= 0 {
		c.MinRate = 64 << 10
	}
	if c.Window <= 0 {
		c.Window = 1 << 20
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 256
	}
	if c.MaxPerClient <= 0 {
		c.MaxPerClient = 8
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 10 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	return c
}
