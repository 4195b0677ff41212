package device

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// isHTTP says whether a boot file is an http:// or https:// URL (option 67
// or 59 from a boot profile whose transport is http).
func isHTTP(file string) bool {
	return strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://")
}

// fetchHTTP gets url with a GET from the leased address, as a device
// whose DHCP reply named an HTTP URL does. Certificates are not checked:
// the config is sealed to the device whatever carries it (RFC 8886).
func (cfg *Config) fetchHTTP(ctx context.Context, local netip.Addr, url string) ([]byte, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: cfg.TFTPTimeout * 4}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
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
