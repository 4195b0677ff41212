package bootstrap

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
)

// Transport is how a profile's devices are told to fetch their config.
type Transport string

// The transports a profile can name.
const (
	TransportTFTP Transport = "tftp" // today's behaviour: a bare name, fetched over TFTP
	TransportHTTP Transport = "http" // a URL to the built-in HTTP server
)

// Profile says how the devices it matches boot. A device is matched by
// the first profile whose every criterion holds; criteria left empty
// match anything. Only recognised devices (with a serial) are matched.
type Profile struct {
	Name      string
	Vendor    string   // as identity names it; "" any
	Model     string   // path.Match glob, compared in lower case; "" any
	Serials   []string // "" none: any
	Transport Transport
	Image     string // file in the images directory; Juniper option 43.00
	ImageAlt  string // Juniper option 43.04
	Options   Options
}

// Options are DHCP options a profile adds for its devices, sent whether
// or not the device asked for them. IPv4 addresses go into DHCPv4, IPv6
// ones into DHCPv6.
type Options struct {
	NTP    []netip.Addr // v4 42; v6 56 (RFC 5908) and 31 (RFC 4075)
	DNS    []netip.Addr // v4 6; v6 23
	Log    []netip.Addr // v4 7 (IPv4 only: DHCPv6 has none)
	Domain string       // v4 15; v6 24 (a search list of one)
	Raw4   []RawOption  // any other DHCPv4 option
	Raw6   []RawOption  // any other DHCPv6 option
}

// RawOption is an option given as code and value bytes.
type RawOption struct {
	Code  uint16
	Value []byte
}

// HTTP is where the built-in HTTP server is, for the URLs handed out.
type HTTP struct {
	Scheme string // http or https
	Port   int    // of the first listen address; 0: the scheme's default
}

// matches says whether the profile applies to a recognised device.
func (p *Profile) matches(id identity.Identity) bool {
	if p.Vendor != "" && p.Vendor != id.Vendor {
		return false
	}
	if p.Model != "" {
		if id.Model == "" {
			return false
		}
		if ok, _ := path.Match(strings.ToLower(p.Model), strings.ToLower(id.Model)); !ok {
			return false
		}
	}
	return len(p.Serials) == 0 || slices.Contains(p.Serials, id.Serial)
}

// profileFor returns the first profile matching a recognised device, or
// nil: devices with no serial, and those no profile matches, keep the
// plain behaviour.
func (c *Config) profileFor(id identity.Identity) *Profile {
	if id.Serial == "" {
		return nil
	}
	for i := range c.Profiles {
		if c.Profiles[i].matches(id) {
			return &c.Profiles[i]
		}
	}
	return nil
}

// profileName is the profile field of the DHCP events.
func profileName(p *Profile) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// validate checks what the configuration check already refuses, so that
// a plugin built without it cannot hand out broken options.
func (p *Profile) validate(h HTTP, sz SZTP) error {
	if p.Name == "" {
		return fmt.Errorf("profile: a name is needed")
	}
	if _, err := path.Match(p.Model, ""); err != nil {
		return fmt.Errorf("profile %s: model %q: %w", p.Name, p.Model, err)
	}
	switch p.Transport {
	case TransportTFTP, "":
		if p.Image != "" || p.ImageAlt != "" {
			return fmt.Errorf("profile %s: an image needs transport http", p.Name)
		}
	case TransportHTTP:
		if h.Scheme != "http" && h.Scheme != "https" {
			return fmt.Errorf("profile %s: transport http needs the HTTP server", p.Name)
		}
	case TransportSZTP:
		if !sz.Enabled {
			return fmt.Errorf("profile %s: transport sztp needs the SZTP server", p.Name)
		}
	default:
		return fmt.Errorf("profile %s: unknown transport %q", p.Name, p.Transport)
	}
	for _, o := range p.Options.Raw4 {
		if o.Code == 0 || o.Code > 254 || len(o.Value) > 255 {
			return fmt.Errorf("profile %s: DHCPv4 option %d cannot be sent", p.Name, o.Code)
		}
	}
	return nil
}

// url is what a device of an http profile is told to fetch: the name on
// the built-in HTTP server at addr, the address it is told of as its TFTP
// server. The port is left out when it is the scheme's default.
func (h HTTP) url(addr netip.Addr, name string) string {
	host := addr.String()
	if addr.Is6() {
		host = "[" + host + "]"
	}
	if h.Port != 0 && !(h.Scheme == "http" && h.Port == 80) && !(h.Scheme == "https" && h.Port == 443) {
		host += ":" + strconv.Itoa(h.Port)
	}
	return h.Scheme + "://" + host + "/" + name
}

// imagePath is an image's path on the HTTP server, relative to its root
// (Juniper asks the server of option 150 for it).
func imagePath(file string) string { return "images/" + file }
