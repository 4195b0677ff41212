package config

import (
	"crypto/tls"
	"fmt"
	"os"
)

func (h HTTP) validate(p *problems) {
	for i, a := range h.Listen {
		hostPort(p, fmt.Sprintf("http.listen[%d]", i), a)
	}
	h.validateTLS(p)
	positive(p, "http.header_timeout", h.HeaderTimeout)
	positive(p, "http.idle_timeout", h.IdleTimeout)
	positive(p, "http.transfer_grace", h.TransferGrace)
	positive(p, "http.retry_after", h.RetryAfter)
	if h.MinRate <= 0 {
		p.add("http.min_rate", "must be a positive size per second, such as 64KiB")
	}
	if h.MaxRequests < 1 {
		p.add("http.max_requests", "must be at least 1")
	}
	if h.MaxPerClient < 1 || h.MaxPerClient > h.MaxRequests {
		p.add("http.max_per_client", "must be between 1 and http.max_requests (%d)", h.MaxRequests)
	}
}

// validateTLS checks that the certificate and key are given together, can
// be read, and load as a pair.
func (h HTTP) validateTLS(p *problems) {
	switch {
	case h.TLSCert == "" && h.TLSKey == "":
		return
	case h.TLSCert == "":
		p.add("http.tls_cert", "needed with http.tls_key")
		return
	case h.TLSKey == "":
		p.add("http.tls_key", "needed with http.tls_cert")
		return
	}
	ok := true
	for key, path := range map[string]string{"http.tls_cert": h.TLSCert, "http.tls_key": h.TLSKey} {
		f, err := os.Open(path)
		if err != nil {
			p.add(key, "cannot read %s: %v", path, err)
			ok = false
			continue
		}
		f.Close()
	}
	if !ok {
		return
	}
	if _, err := tls.LoadX509KeyPair(h.TLSCert, h.TLSKey); err != nil {
		p.add("http.tls_cert", "does not load with http.tls_key: %v", err)
	}
}
