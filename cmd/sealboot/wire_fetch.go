package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/keystore"
)

// certificatesOnDemand is the keystore as the configs directory and the
// fetch core see it: asking for the certificate of a serial that has
// none (a config dropped for it, the device asking for its config) queues
// a fetch from the vendor directory, which never blocks the asker.
type certificatesOnDemand struct {
	*keystore.Store
	fetcher *keystore.Fetcher
}

func (c certificatesOnDemand) HasCertificate(serial string) bool {
	ok := c.Store.HasCertificate(serial)
	if !ok {
		c.fetcher.Request(serial)
	}
	return ok
}

func (c certificatesOnDemand) Fingerprint(serial string) (string, bool) {
	fp, ok := c.Store.Fingerprint(serial)
	if !ok {
		c.fetcher.Request(serial)
	}
	return fp, ok
}

func (c certificatesOnDemand) Certificate(serial string) (*x509.Certificate, string, bool) {
	cert, fp, ok := c.Store.Certificate(serial)
	if !ok {
		c.fetcher.Request(serial)
	}
	return cert, fp, ok
}

// addFetcher builds the fetcher of certificates on demand over keys: a
// task, a check and a reload (every keystore.fetch_* setting applies on
// reload). wanted says whether a serial still has a config.
func (c *components) addFetcher(cfg *config.Config, keys *keystore.Store, wanted func(string) bool, log *zap.Logger, reg prometheus.Registerer) (*keystore.Fetcher, error) {
	fc, err := fetcherConfig(cfg)
	if err != nil {
		return nil, err
	}
	f := keystore.NewFetcher(keys, fc, wanted, log, reg)
	c.tasks = append(c.tasks, daemon.Task{Name: "certificates", Component: f})
	c.checks = append(c.checks, func(cfg *config.Config) error {
		_, err := fetcherConfig(cfg)
		return err
	})
	c.reloads = append(c.reloads, func(cfg *config.Config) error {
		fc, err := fetcherConfig(cfg)
		if err != nil {
			return err
		}
		f.Update(fc)
		return nil
	})
	return f, nil
}

// fetcherConfig maps keystore.fetch_* onto the fetcher's settings, reading
// the CA file and the header values.
func fetcherConfig(cfg *config.Config) (keystore.FetcherConfig, error) {
	k := cfg.Keystore
	fc := keystore.FetcherConfig{Concurrency: k.FetchConcurrency, MaxQueue: k.FetchMaxQueue, RetryMin: k.FetchRetryMin, RetryMax: k.FetchRetryMax}
	v, err := vendorOf(k)
	fc.Vendor = v
	return fc, err
}

// vendorOf is the vendor directory keystore.fetch_* describe; nil without
// fetch_url.
func vendorOf(k config.Keystore) (*keystore.Vendor, error) {
	if k.FetchURL == "" {
		return nil, nil
	}
	v := keystore.Vendor{URL: k.FetchURL, Timeout: k.FetchTimeout, MaxSize: int64(k.FetchMaxSize)}
	if k.FetchCA != "" {
		pool, err := readCAs(k.FetchCA)
		if err != nil {
			return nil, fmt.Errorf("keystore.fetch_ca: %w", err)
		}
		v.RootCAs = pool
	}
	if len(k.FetchHeaders) > 0 {
		v.Header = http.Header{}
	}
	for i, h := range k.FetchHeaders {
		val, err := headerValue(h)
		if err != nil {
			return nil, fmt.Errorf("keystore.fetch_headers[%d] (%s): %w", i, h.Name, err)
		}
		v.Header.Set(h.Name, val)
	}
	return keystore.NewVendor(v)
}

func readCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// maxHeaderValue bounds a header value read from a file.
const maxHeaderValue = 8 << 10

// headerValue reads a header's value from its file or systemd credential:
// the whole content, minus a final newline. Errors never quote it.
func headerValue(h config.FetchHeader) (string, error) {
	path := h.File
	if h.Credential != "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", fmt.Errorf("credential %q: $CREDENTIALS_DIRECTORY is not set (give it with LoadCredential=%s:/path in the unit)", h.Credential, h.Credential)
		}
		path = filepath.Join(dir, h.Credential)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxHeaderValue+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	n := len(data)
	data = bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	switch {
	case n > maxHeaderValue:
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxHeaderValue)
	case len(data) == 0:
		return "", fmt.Errorf("%s is empty", path)
	case bytes.ContainsAny(data, "\r\n\x00"):
		return "", errors.New(path + ": the value spans several lines")
	}
	return string(data), nil
}
