package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// problems collects validation errors, each naming its key path.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks every value and returns all problems found, each as
// "key.path: what is wrong".
func (c *Config) Validate() error {
	var p problems
	c.validateTop(&p)
	c.TFTP.validate(&p, c.DHCP.Enabled)
	c.HTTP.validate(&p)
	c.DHCP.validate(&p, c.TFTP)
	validateProfiles(&p, c.Profiles, c.HTTP, c.SZTP)
	c.SZTP.validate(&p)
	return errors.Join(p...)
}

func (c *Config) validateTop(p *problems) {
	for _, d := range []struct{ key, dir string }{{"state_dir", c.StateDir}, {"keys_dir", c.KeysDir}, {"configs_dir", c.ConfigsDir}, {"images_dir", c.ImagesDir}} {
		// A directory under a state_dir already reported is its default,
		// not a second mistake.
		derived := d.key != "state_dir" && strings.ContainsRune(c.StateDir, 0) && strings.HasPrefix(d.dir, c.StateDir)
		if strings.ContainsRune(d.dir, 0) && !derived {
			p.add(d.key, "contains a NUL byte")
		}
	}
	positive(p, "shutdown_timeout", c.ShutdownTimeout)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", "invalid level %q (want debug, info, warn or error)", c.Log.Level)
	}
	if !slices.Contains([]string{"", "json", "console"}, c.Log.Format) {
		p.add("log.format", "invalid format %q (want json or console)", c.Log.Format)
	}
	if c.Metrics.Listen != "" {
		hostPort(p, "metrics.listen", c.Metrics.Listen)
	}
	c.Admin.validate(p)
	positive(p, "keystore.settle", c.Keystore.Settle)
	positive(p, "keystore.fetch_timeout", c.Keystore.FetchTimeout)
	if c.Keystore.FetchMaxSize <= 0 {
		p.add("keystore.fetch_max_size", "must be positive")
	}
	if u := c.Keystore.FetchURL; u != "" {
		pu, err := url.Parse(strings.ReplaceAll(u, "{serial}", "x"))
		switch {
		case err != nil || pu.Host == "":
			p.add("keystore.fetch_url", "invalid URL %q", u)
		case pu.Scheme != "https":
			p.add("keystore.fetch_url", "%q must use https (RFC 8886 section 4.2)", u)
		case !strings.Contains(u, "{serial}"):
			p.add("keystore.fetch_url", "%q has no {serial} placeholder", u)
		}
	}
	c.Keystore.validateFetch(p)
	c.Watch.validate(p)
	for key, f := range map[string]string{"appliance_key": c.ApplianceKey, "appliance_cert": c.ApplianceCert} {
		if strings.ContainsRune(f, 0) {
			p.add(key, "contains a NUL byte")
		}
	}
	if (c.ApplianceKey == "") != (c.ApplianceCert == "") {
		p.add("appliance_cert", "appliance_key and appliance_cert go together (one is empty)")
	}
	if c.Watch.MaxSize <= 0 {
		p.add("watch.max_size", "must be positive")
	}
	positive(p, "watch.settle", c.Watch.Settle)
	c.Seal.validate(p)
}

func (a Admin) validate(p *problems) {
	switch {
	case strings.ContainsRune(a.Socket, 0):
		p.add("admin.socket", "contains a NUL byte")
	case len(a.Socket) > 107: // sun_path holds 108 bytes with the NUL
		p.add("admin.socket", "path longer than 107 bytes, the most a Unix socket's name may have")
	}
	for key, n := range map[string]int{"admin.failing_after": a.FailingAfter, "admin.max_unknown_devices": a.MaxUnknownDevices,
		"admin.story_events": a.StoryEvents, "admin.story_total": a.StoryTotal} {
		if n <= 0 {
			p.add(key, "must be positive")
		}
	}
	if a.StoryTotal > 0 && a.StoryTotal < a.StoryEvents {
		p.add("admin.story_total", "%d is less than admin.story_events (%d)", a.StoryTotal, a.StoryEvents)
	}
}

func (s Seal) validate(p *problems) {
	ciphers := []string{"aes256-cbc", "aes192-cbc", "aes128-cbc", "aes128-gcm", "aes256-gcm"}
	if !slices.Contains(ciphers, s.Cipher) {
		p.add("seal.cipher", "unknown cipher %q (want one of %s)", s.Cipher, strings.Join(ciphers, ", "))
	}
	if !slices.Contains([]string{"sha256", "sha1"}, s.KDF) {
		p.add("seal.kdf", "unknown KDF hash %q (want sha256 or sha1)", s.KDF)
	}
	if !slices.Contains([]string{"pem", "der"}, s.Format) {
		p.add("seal.format", "unknown format %q (want pem or der)", s.Format)
	}
}

func (t TFTP) validate(p *problems, dhcp bool) {
	if len(t.Listen) == 0 {
		p.add("tftp.listen", "at least one address is needed")
	}
	for i, a := range t.Listen {
		hostPort(p, fmt.Sprintf("tftp.listen[%d]", i), a)
	}
	if len(t.Names) == 0 {
		p.add("tftp.names", "at least one pattern is needed")
	}
	for i, n := range t.Names {
		if strings.Count(n, "{serial}") != 1 {
			p.add(fmt.Sprintf("tftp.names[%d]", i), "pattern %q must contain {serial} exactly once", n)
		} else if !safeName(strings.ReplaceAll(n, "{serial}", "x")) {
			p.add(fmt.Sprintf("tftp.names[%d]", i), "pattern %q may only use letters, digits, '.', '_', '-'", n)
		}
	}
	for i, n := range t.FixedNames {
		if !safeName(n) {
			p.add(fmt.Sprintf("tftp.fixed_names[%d]", i), "name %q may only use letters, digits, '.', '_', '-'", n)
		}
	}
	if t.BindingCheck != nil && *t.BindingCheck && !dhcp {
		p.add("tftp.binding_check", "needs dhcp.enabled: the binding of address to serial comes from our DHCP server")
	}
	for i, s := range t.PlaintextSerials {
		if !safeName(s) {
			p.add(fmt.Sprintf("tftp.plaintext_serials[%d]", i), "invalid serial %q", s)
		}
	}
	if t.MaxTransfers < 1 {
		p.add("tftp.max_transfers", "must be at least 1")
	}
	if t.MaxPerClient < 1 || t.MaxPerClient > t.MaxTransfers {
		p.add("tftp.max_per_client", "must be between 1 and tftp.max_transfers (%d)", t.MaxTransfers)
	}
	if t.QueueWait < 0 {
		p.add("tftp.queue_wait", "must not be negative (0s: refuse at once when tftp.max_transfers are busy)")
	}
	positive(p, "tftp.timeout", t.Timeout)
	if t.Retries < 0 {
		p.add("tftp.retries", "must not be negative")
	}
	positive(p, "tftp.shutdown_timeout", t.ShutdownTimeout)
	if t.CacheSize < 0 {
		p.add("tftp.cache_size", "must not be negative")
	}
	if t.MinRate < 0 {
		p.add("tftp.min_rate", "must not be negative (0: no minimum)")
	}
	if t.MinRateAfter < 0 {
		p.add("tftp.min_rate_after", "must not be negative")
	}
	if t.MaxTransferTime < 0 {
		p.add("tftp.max_transfer_time", "must not be negative (0s: no limit)")
	}
	if t.ReceiveBuffer < 0 || t.ReceiveBuffer > GiB {
		p.add("tftp.receive_buffer", "must be between 0 and 1GiB (0: the kernel's default)")
	}
}

// safeName reports whether s is a plain file name with a conservative
// character set: it becomes a TFTP name and a log field.
func safeName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be a positive duration such as 250ms or 5s")
	}
}

func hostPort(p *problems, key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "invalid address %q (want host:port, e.g. :69, 192.0.2.1:69 or [2001:db8::1]:69)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "invalid port in %q", addr)
		return
	}
	if host == "" {
		return
	}
	if _, err := netip.ParseAddr(host); err != nil && !isHostname(host) {
		p.add(key, "invalid address %q", addr)
	}
}

func isHostname(h string) bool {
	if strings.Trim(h, "0123456789.") == "" {
		return false // all digits and dots: a malformed IPv4 address, not a name
	}
	return h == "localhost" || (safeName(h) && !strings.HasPrefix(h, "-"))
}

// validate checks the three config file extensions: each names one kind of
// file, so they differ.
func (w Watch) validate(p *problems) {
	seen := map[string]string{}
	for _, k := range []struct{ key, ext string }{
		{"watch.extension", w.Extension}, {"watch.presealed_extension", w.PresealedExtension}, {"watch.appliance_extension", w.ApplianceExtension},
	} {
		if len(k.ext) < 2 || k.ext[0] != '.' || strings.ContainsAny(k.ext, "/\\\x00") {
			p.add(k.key, "invalid extension %q (want a dot and a suffix, e.g. .cfg)", k.ext)
			continue
		}
		if other, dup := seen[k.ext]; dup {
			p.add(k.key, "%q is %s already: each kind of config needs its own extension", k.ext, other)
		}
		seen[k.ext] = k.key
	}
}
