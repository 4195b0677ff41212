package config

import (
	"fmt"
	"net/url"
	"slices"
)

// validate checks the sztp section. Files are read when the server is
// built (and by sealboot check), which reports what is wrong with them.
func (s SZTP) validate(p *problems) {
	for i, a := range s.Listen {
		hostPort(p, fmt.Sprintf("sztp.listen[%d]", i), a)
	}
	if len(s.Listen) > 0 && (s.TLSCert == "" || s.TLSKey == "") {
		p.add("sztp.tls_cert", "the SZTP server speaks HTTPS only: tls_cert and tls_key are required with listen")
	}
	if (s.OwnerCert == "") != (s.OwnerKey == "") {
		p.add("sztp.owner_cert", "owner_cert and owner_key come together")
	}
	for key, v := range map[string]string{"sztp.sign": s.Sign, "sztp.encrypt": s.Encrypt} {
		if !slices.Contains([]string{"auto", "always", "never"}, v) {
			p.add(key, "%q is not auto, always or never", v)
		}
	}
	if s.Sign == "always" && (s.OwnerCert == "" || s.VouchersDir == "") {
		p.add("sztp.sign", "always needs owner_cert, owner_key and vouchers_dir")
	}
	if !slices.Contains([]string{"minimal", "verbose"}, s.ReportingLevel) {
		p.add("sztp.reporting_level", "%q is not minimal or verbose", s.ReportingLevel)
	}
	for i, r := range s.Redirect {
		key := fmt.Sprintf("sztp.redirect[%d]", i)
		if r.Address == "" {
			p.add(key+".address", "is required")
		}
		if r.Port < 0 || r.Port > 65535 {
			p.add(key+".port", "%d is not a port", r.Port)
		}
	}
	if u := s.ImageURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.add("sztp.image_url", "invalid URL %q (want http(s)://host[:port]/path)", u)
		}
	}
	if s.MaxRequests <= 0 {
		p.add("sztp.max_requests", "must be positive")
	}
	if s.MaxBody <= 0 {
		p.add("sztp.max_body", "must be positive")
	}
	positive(p, "sztp.request_timeout", s.RequestTimeout)
}
