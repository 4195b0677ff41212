package device

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// isHTTP says whether a boot file is an http:// or https:// URL (option 67
// or 59 from a boot profile whose transport is http).
func isHTTP(file string) bool {
	return strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://")
}

// httpClient makes requests from the leased address, one connection each
// (no keep-alive: a device fetches a file or two), and gives up on a
// server that sends nothing for HTTPTimeout (connecting, waiting for the
// response, or between two reads of the body). Certificates are not
// checked: the config is sealed to the device whatever carries it (RFC
// 8886), and an image is checked against its SHA-256.
func (cfg *Config) httpClient(local netip.Addr) *http.Client {
	timeout := cfg.HTTPTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: timeout}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: timeout}, nil
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true,
		ResponseHeaderTimeout: timeout,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} //nolint:gosec // see above
}

// idleConn is a connection whose reads fail when nothing comes for idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// fetchHTTP gets url with a GET from the leased address, as a device
// whose DHCP reply named an HTTP URL does.
func (cfg *Config) fetchHTTP(ctx context.Context, local netip.Addr, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cfg.httpClient(local).Do(req)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", url, err)
	}
	if len(data) > maxConfig {
		return nil, fmt.Errorf("http %s: too large for a config", url)
	}
	return data, nil
}
