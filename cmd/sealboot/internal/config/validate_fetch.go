package config

import (
	"fmt"
	"net/textproto"
	"path/filepath"
	"strings"
)

// validateFetch checks the settings of fetching certificates on demand.
// The files named (CA, header values) are read by the keystore's wiring,
// which says what is wrong with them; here only their form is checked.
func (k Keystore) validateFetch(p *problems) {
	if k.FetchConcurrency < 1 {
		p.add("keystore.fetch_concurrency", "must be at least 1")
	}
	if k.FetchMaxQueue < 1 {
		p.add("keystore.fetch_max_queue", "must be at least 1")
	}
	positive(p, "keystore.fetch_retry_min", k.FetchRetryMin)
	if k.FetchRetryMax < k.FetchRetryMin {
		p.add("keystore.fetch_retry_max", "%s is less than keystore.fetch_retry_min (%s)", k.FetchRetryMax, k.FetchRetryMin)
	}
	if strings.ContainsRune(k.FetchCA, 0) {
		p.add("keystore.fetch_ca", "contains a NUL byte")
	}
	seen := map[string]bool{}
	for i, h := range k.FetchHeaders {
		key := fmt.Sprintf("keystore.fetch_headers[%d]", i)
		canon := textproto.CanonicalMIMEHeaderKey(h.Name)
		switch {
		case !validHeaderName(h.Name):
			p.add(key+".name", "invalid header name %q", h.Name)
		case seen[canon]:
			p.add(key+".name", "header %q given twice", h.Name)
		}
		seen[canon] = true
		switch {
		case (h.File == "") == (h.Credential == ""):
			p.add(key, "give the value's file or its credential (one of them)")
		case h.Credential != "" && (strings.ContainsAny(h.Credential, "/\x00") || h.Credential == "." || h.Credential == ".."):
			p.add(key+".credential", "invalid credential name %q (a file name in $CREDENTIALS_DIRECTORY)", h.Credential)
		case h.File != "" && !filepath.IsAbs(h.File):
			p.add(key+".file", "%q is not an absolute path", h.File)
		}
	}
}

// validHeaderName is RFC 9110's token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}
