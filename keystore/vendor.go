package keystore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Vendor is a vendor's certificate directory (RFC 8886 section 4.2): where
// each device's certificate is published, and how to ask for it.
type Vendor struct {
	// URL is the template, https only; {serial} is replaced. It may hold
	// a credential: it is never logged nor put in errors.
	URL     string
	Timeout time.Duration // per request; default 10s
	MaxSize int64         // largest response; default 64 KiB
	// RootCAs verify the server instead of the system roots (a vendor
	// portal with a private CA); nil: system roots.
	RootCAs *x509.CertPool
	// Header is sent with every request to the URL's host (a portal's
	// token), and dropped on a redirect to another host. Its values are
	// never logged.
	Header http.Header
	// Client, when set, is used as is (tests); otherwise one is made from
	// RootCAs.
	Client *http.Client
}

// ErrFetchRefused marks a fetched answer sealboot will not use whatever
// the server's state: a redirect to http, a certificate for another
// serial, not a certificate, too large, a key that conflicts with a pin.
// Other fetch errors (the server down, a status other than 200, a timeout)
// are failures that may pass.
var ErrFetchRefused = errors.New("refused")

// NewVendor checks v and makes its HTTP client (one per directory, so
// connections are reused).
func NewVendor(v Vendor) (*Vendor, error) {
	if _, err := fetchURL(v.URL, "SN0"); err != nil {
		return nil, err
	}
	if v.Timeout <= 0 {
		v.Timeout = 10 * time.Second
	}
	if v.MaxSize <= 0 {
		v.MaxSize = 64 << 10
	}
	if v.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: v.RootCAs, MinVersion: tls.VersionTLS12}
		tr.MaxIdleConnsPerHost = 16
		v.Client = &http.Client{Transport: tr}
	}
	return &v, nil
}

// Fetch downloads serial's certificate from the vendor directory
// (opts.FetchURL, RFC 8886 section 4.2) over HTTPS with normal certificate
// verification, a timeout and a size limit, and imports it under the same
// pinning rules. The certificate must be for serial.
func (s *Store) Fetch(ctx context.Context, serial string, replace bool) (Entry, error) {
	v, err := NewVendor(Vendor{URL: s.opts.FetchURL, Timeout: s.opts.FetchTimeout, MaxSize: s.opts.FetchMaxSize, Client: s.opts.HTTPClient})
	if err != nil {
		return Entry{}, err
	}
	return s.FetchFrom(ctx, v, serial, replace)
}

// FetchFrom is Fetch from the directory v (made by NewVendor). The answer
// may be the certificate alone or with its chain, PEM, DER or PKCS#7: the
// leaf is the certificate whose subject names serial, and a leaf for
// another serial is refused. Errors name neither the URL nor the headers.
func (s *Store) FetchFrom(ctx context.Context, v *Vendor, serial string, replace bool) (Entry, error) {
	if !ValidSerial(serial) {
		return Entry{}, fmt.Errorf("invalid serial %q", serial)
	}
	u, err := fetchURL(v.URL, serial)
	if err != nil {
		return Entry{}, err
	}
	data, err := v.download(ctx, u)
	if err != nil {
		return Entry{}, fmt.Errorf("fetch certificate for %s: %w", serial, err)
	}
	b, err := ParseBundle(data, serial, s.opts.PKCS7)
	if err != nil {
		return Entry{}, fmt.Errorf("fetch certificate for %s: %w: %w", serial, ErrFetchRefused, err)
	}
	if got, err := SubjectSerial(b.Leaf); err != nil || got != serial {
		return Entry{}, fmt.Errorf("fetch certificate for %s: %w: the certificate is for serial %q", serial, ErrFetchRefused, got)
	}
	if err := usableKey(b.Leaf, s.opts.AllowSmallRSA); err != nil {
		return Entry{}, fmt.Errorf("fetch certificate for %s: %w: certificate cannot be used: %w", serial, ErrFetchRefused, err)
	}
	// A key that differs from the pinned one is ErrPinMismatch; other
	// errors here are ours (the keys directory), not the vendor's.
	return s.Import(data, serial, replace)
}

func fetchURL(template, serial string) (string, error) {
	if template == "" {
		return "", errors.New("no vendor certificate URL configured (keystore.fetch_url or --url)")
	}
	if !strings.Contains(template, "{serial}") {
		return "", errors.New("the vendor URL template has no {serial}")
	}
	u, err := url.Parse(strings.ReplaceAll(template, "{serial}", url.PathEscape(serial)))
	if err != nil || u.Host == "" {
		return "", errors.New("invalid vendor URL template")
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("the vendor URL must use https, not %s (RFC 8886 section 4.2)", u.Scheme)
	}
	return u.String(), nil
}

// download GETs u. Redirects are followed to https only (the headers only
// to the same host); the body is read up to the size limit.
func (v *Vendor) download(ctx context.Context, u string) ([]byte, error) {
	client := *v.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to %s://%s refused: certificates are fetched over https only (RFC 8886 section 4.2)",
				ErrFetchRefused, req.URL.Scheme, req.URL.Host)
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			for k := range v.Header {
				req.Header.Del(k)
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.New("invalid vendor URL")
	}
	for k, vals := range v.Header {
		req.Header[k] = vals
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error // it names the URL, which may hold a token
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("vendor directory answered %s", resp.Status)
	}
	if resp.ContentLength > v.MaxSize {
		return nil, fmt.Errorf("%w: response of %d bytes exceeds the %d-byte limit", ErrFetchRefused, resp.ContentLength, v.MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, v.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if int64(len(data)) > v.MaxSize {
		return nil, fmt.Errorf("%w: response exceeds the %d-byte limit", ErrFetchRefused, v.MaxSize)
	}
	return data, nil
}
