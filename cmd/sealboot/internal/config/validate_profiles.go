package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// vendors are the vendor names a profile can match, as the DHCP identity
// code names them.
func vendors() []string {
	return []string{"juniper", "arista", "cisco", "dell", "nokia", "ciena", "zpe"}
}

// Size limits of values a profile hands out over DHCP.
const (
	maxImageName = 80   // Juniper's option 43 carries two of them in 255 bytes
	maxRaw4      = 255  // one DHCPv4 option (RFC 2132 section 2)
	maxRaw6      = 1024 // keeps a reply well within one packet
)

// reserved4 says why sealboot sets a DHCPv4 option itself, so that a raw
// option may not; "" for the others.
func reserved4(code int) string {
	switch code {
	case 1:
		return "the subnet mask, dhcp.v4.netmask"
	case 51, 58, 59:
		return "the lease time"
	case 54:
		return "the server identifier"
	case 50, 52, 53, 55, 57, 61:
		return "DHCP itself"
	case 82:
		return "relay agents"
	case 66, 150:
		return "the boot options, from dhcp.tftp_server"
	case 67:
		return "the boot options, from transport and dhcp.bootfile"
	}
	return ""
}

// reserved6 is reserved4 for DHCPv6 (RFC 8415 section 21).
func reserved6(code int) string {
	switch code {
	case 3, 4, 5, 25, 26:
		return "the address lease"
	case 9, 18:
		return "relay agents"
	case 1, 2, 6, 8, 11, 12, 13, 14, 19, 20:
		return "DHCPv6 itself"
	case 59:
		return "the boot options, from transport and dhcp.bootfile"
	}
	return ""
}

// validateProfiles checks the profiles; each problem names the profile
// by index and name, then the key within it.
func validateProfiles(p *problems, profiles []Profile, http HTTP, sztp SZTP) {
	names := map[string]int{}
	for i, pr := range profiles {
		key := fmt.Sprintf("profiles[%d]", i)
		switch first, dup := names[pr.Name]; {
		case pr.Name == "":
			p.add(key+": name", "is required (it names the profile in the log)")
		case !safeName(pr.Name):
			p.add(key+": name", "%q may only use letters, digits, '.', '_', '-'", pr.Name)
		case dup:
			p.add(key+": name", "%q is the name of profiles[%d] too", pr.Name, first)
		default:
			names[pr.Name] = i
		}
		if pr.Name != "" {
			key += " (" + pr.Name + ")"
		}
		key += ": "
		pr.validateMatch(p, key, i < len(profiles)-1)
		pr.validateBoot(p, key, http, sztp)
		pr.Options.validate(p, key+"options.")
	}
}

func (pr Profile) validateMatch(p *problems, key string, notLast bool) {
	if pr.Vendor != "" && !slices.Contains(vendors(), pr.Vendor) {
		p.add(key+"vendor", "unknown vendor %q (want one of %s)", pr.Vendor, strings.Join(vendors(), ", "))
	}
	if _, err := path.Match(pr.Model, ""); err != nil {
		p.add(key+"model", "invalid pattern %q (path.Match syntax: *, ?, [a-z])", pr.Model)
	}
	for i, s := range pr.Serials {
		if !safeName(s) || len(s) > 64 {
			p.add(fmt.Sprintf("%sserials[%d]", key, i), "invalid serial %q", s)
		}
	}
	if pr.Vendor == "" && pr.Model == "" && len(pr.Serials) == 0 && notLast {
		p.add(strings.TrimSuffix(key, ": "), "matches every device (no vendor, model or serials), so the profiles after it never match: put it last")
	}
}

func (pr Profile) validateBoot(p *problems, key string, http HTTP, sztp SZTP) {
	switch pr.Transport {
	case "", "tftp", "http":
	case "sztp":
		if len(sztp.Listen) == 0 {
			p.add(key+"transport", "sztp needs the SZTP bootstrap server, and sztp.listen is empty")
		}
	default:
		p.add(key+"transport", "unknown transport %q (want tftp, http or sztp)", pr.Transport)
	}
	if pr.Transport == "http" && len(http.Listen) == 0 {
		p.add(key+"transport", "http needs the built-in HTTP server, and http.listen is empty")
	}
	for _, img := range []struct{ key, name string }{{"image", pr.Image}, {"image_alt", pr.ImageAlt}} {
		switch {
		case img.name == "":
		case !imageName(img.name):
			p.add(key+img.key, "invalid file name %q (a file directly in images_dir, as the HTTP server serves them: at most %d characters, letters, digits, '.', '_', '-', '+', no leading '.')", img.name, maxImageName)
		case pr.Transport != "http" && pr.Transport != "sztp":
			p.add(key+img.key, "needs transport: http or sztp (images are served by the HTTP server only)")
		case pr.Transport == "sztp" && len(http.Listen) == 0 && sztp.ImageURL == "":
			p.add(key+img.key, "an SZTP device downloads it from the HTTP server, and http.listen and sztp.image_url are empty")
		}
	}
	if !slices.Contains([]string{"", "merge", "replace"}, pr.ConfigurationHandling) {
		p.add(key+"configuration_handling", "%q is not merge or replace", pr.ConfigurationHandling)
	}
	for _, f := range []struct{ key, file string }{{"pre_script", pr.PreScript}, {"post_script", pr.PostScript}} {
		if strings.ContainsRune(f.file, 0) {
			p.add(key+f.key, "contains a NUL byte")
		}
	}
}

// imageName reports whether s names a file the HTTP server serves at
// /images/<s>: one name directly in images_dir (tftpd/images).
func imageName(s string) bool {
	if s == "" || len(s) > maxImageName || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

func (o ProfileOptions) validate(p *problems, key string) {
	set4, set6 := map[int]string{}, map[int]string{}
	lists := []struct {
		name       string
		list       []string
		code4, c6s []int
	}{{"ntp", o.NTP, []int{42}, []int{56, 31}}, {"dns", o.DNS, []int{6}, []int{23}}, {"log", o.Log, []int{7}, nil}}
	for _, l := range lists {
		for i, s := range l.list {
			k := fmt.Sprintf("%s%s[%d]", key, l.name, i)
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil || a.Zone() != "" || a.Is4In6():
				p.add(k, "invalid address %q", s)
			case a.Is4():
				for _, c := range l.code4 {
					set4[c] = "options." + l.name
				}
			case l.c6s == nil:
				p.add(k, "%s: DHCPv6 has no %s server option (IPv4 addresses only)", s, l.name)
			default:
				for _, c := range l.c6s {
					set6[c] = "options." + l.name
				}
			}
		}
	}
	if o.Domain != "" {
		if !domainName(o.Domain) {
			p.add(key+"domain", "invalid domain name %q", o.Domain)
		}
		set4[15], set6[24] = "options.domain", "options.domain"
	}
	rawOptions(p, key, "raw", o.Raw, 254, maxRaw4, reserved4, set4)
	rawOptions(p, key, "raw6", o.Raw6, 65535, maxRaw6, reserved6, set6)
}

// rawOptions checks raw options: code range, codes sealboot sets itself,
// codes set twice, and the hex value. set maps the codes already set to
// the key that sets them.
func rawOptions(p *problems, key, name string, raw []RawOption, maxCode, maxLen int, reserved func(int) string, set map[int]string) {
	for i, r := range raw {
		rel := fmt.Sprintf("options.%s[%d]", name, i)
		k := strings.TrimSuffix(key, "options.") + rel
		switch by, taken := set[r.Code]; {
		case r.Code < 1 || r.Code > maxCode:
			p.add(k+".code", "%d is not an option code (want 1 to %d)", r.Code, maxCode)
		case reserved(r.Code) != "":
			p.add(k+".code", "%d is set by sealboot itself (%s)", r.Code, reserved(r.Code))
		case taken:
			p.add(k+".code", "%d is set by %s too", r.Code, by)
		default:
			set[r.Code] = rel
		}
		v, err := r.Bytes()
		switch {
		case err != nil:
			p.add(k+".hex", "invalid hex %q (want pairs of hex digits, optionally separated by ':' or ' ')", r.Hex)
		case len(v) > maxLen:
			p.add(k+".hex", "%d bytes is too long (at most %d)", len(v), maxLen)
		}
	}
}

// domainName reports whether s is a DNS name (RFC 1035 section 2.3.1,
// with digits first allowed as RFC 1123 does), a trailing dot allowed.
func domainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Bytes is the option's value: hex digit pairs, optionally separated by
// ':' or ' '.
func (r RawOption) Bytes() ([]byte, error) {
	return hex.DecodeString(strings.NewReplacer(":", "", " ", "").Replace(r.Hex))
}
