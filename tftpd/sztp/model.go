package sztp

import "fmt"

// ConveyedInformation is the conveyed information artifact's content (RFC
// 8572 section 6): redirect information or onboarding information, never
// both.
type ConveyedInformation struct {
	Redirect   *RedirectInformation
	Onboarding *OnboardingInformation
}

// RedirectInformation sends the device to other bootstrap servers (section
// 2.1).
type RedirectInformation struct {
	BootstrapServers []BootstrapServer // at least one
}

// BootstrapServer is one entry of redirect information.
type BootstrapServer struct {
	Address string // inet:host
	Port    int    // 0: absent (443)
	// TrustAnchor is a certificates-only CMS SignedData (DER) holding the
	// chain that authenticates the server's TLS certificate; nil: absent.
	TrustAnchor []byte
}

// OnboardingInformation is everything a device needs to bootstrap itself
// (section 2.2).
type OnboardingInformation struct {
	BootImage *BootImage
	// ConfigurationHandling is "merge" or "replace"; the module requires
	// it exactly when Configuration is present.
	ConfigurationHandling   string
	PreConfigurationScript  []byte
	Configuration           []byte
	PostConfigurationScript []byte
}

// BootImage says which image the device must run and where to get it.
type BootImage struct {
	OSName             string
	OSVersion          string
	DownloadURIs       []string
	ImageVerifications []ImageVerification
}

// ImageVerification is one hash of the boot image.
type ImageVerification struct {
	HashAlgorithm string // the identity's name: "sha-256"
	HashValue     []byte
}

// HashSHA256 is the one hash-algorithm identity RFC 8572 defines.
const HashSHA256 = "sha-256"

// Format is an encoding: JSON (RFC 7951) or XML (RFC 7950).
type Format int

// Formats.
const (
	JSON Format = iota
	XML
)

// MediaType is the RESTCONF media type of the format (RFC 8040 section
// 11.3).
func (f Format) MediaType() string {
	if f == XML {
		return "application/yang-data+xml"
	}
	return "application/yang-data+json"
}

func (f Format) String() string {
	if f == XML {
		return "xml"
	}
	return "json"
}

// Encode writes the conveyed information in format f.
func (c *ConveyedInformation) Encode(f Format) ([]byte, error) {
	top, obj, err := c.toObject()
	if err != nil {
		return nil, err
	}
	if err := validate(top, obj, "/"+top.name); err != nil {
		return nil, err
	}
	if f == XML {
		return encodeXML(NamespaceConveyedInfo, top, obj), nil
	}
	return encodeJSON(ModuleConveyedInfo, top, obj), nil
}

// DecodeConveyedInformation reads conveyed information in format f,
// checking it against the module.
func DecodeConveyedInformation(data []byte, f Format) (*ConveyedInformation, error) {
	var top *node
	var obj object
	var err error
	if f == XML {
		top, obj, err = decodeXML(data, NamespaceConveyedInfo, redirectSchema(), onboardingSchema())
	} else {
		top, obj, err = decodeJSON(data, ModuleConveyedInfo, redirectSchema(), onboardingSchema())
	}
	if err != nil {
		return nil, err
	}
	c := &ConveyedInformation{}
	if top.name == "redirect-information" {
		c.Redirect = redirectFrom(obj)
		if len(c.Redirect.BootstrapServers) == 0 {
			return nil, errAt(TagMissingElement, "/redirect-information/bootstrap-server", "at least one bootstrap server (min-elements 1)")
		}
		return c, nil
	}
	c.Onboarding = onboardingFrom(obj)
	if err := c.Onboarding.check(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ConveyedInformation) toObject() (*node, object, error) {
	switch {
	case (c.Redirect == nil) == (c.Onboarding == nil):
		return nil, nil, fmt.Errorf("conveyed information is redirect or onboarding information, exactly one")
	case c.Redirect != nil:
		if len(c.Redirect.BootstrapServers) == 0 {
			return nil, nil, fmt.Errorf("redirect information needs at least one bootstrap server")
		}
		return redirectSchema(), c.Redirect.toObject(), nil
	}
	if err := c.Onboarding.check(); err != nil {
		return nil, nil, err
	}
	return onboardingSchema(), c.Onboarding.toObject(), nil
}

// check applies the module's must statements: configuration and
// configuration-handling come together; image verification needs download
// URIs.
func (o *OnboardingInformation) check() *Error {
	const path = "/onboarding-information"
	switch {
	case (o.Configuration == nil) != (o.ConfigurationHandling == ""):
		return errAt(TagMissingElement, path+"/configuration-handling", "configuration and configuration-handling come together")
	case o.ConfigurationHandling != "" && o.ConfigurationHandling != "merge" && o.ConfigurationHandling != "replace":
		return errAt(TagInvalidValue, path+"/configuration-handling", "not merge or replace")
	case o.BootImage != nil && len(o.BootImage.ImageVerifications) > 0 && len(o.BootImage.DownloadURIs) == 0:
		return errAt(TagMissingElement, path+"/boot-image/download-uri", "image verification needs download URIs")
	}
	return nil
}

func (r *RedirectInformation) toObject() object {
	servers := make([]object, 0, len(r.BootstrapServers))
	for _, s := range r.BootstrapServers {
		e := object{"address": s.Address}
		if s.Port != 0 {
			e["port"] = s.Port
		}
		if s.TrustAnchor != nil {
			e["trust-anchor"] = s.TrustAnchor
		}
		servers = append(servers, e)
	}
	return object{"bootstrap-server": servers}
}

func redirectFrom(obj object) *RedirectInformation {
	r := &RedirectInformation{}
	entries, _ := obj["bootstrap-server"].([]object)
	for _, e := range entries {
		s := BootstrapServer{Address: str(e["address"])}
		s.Port, _ = e["port"].(int)
		s.TrustAnchor, _ = e["trust-anchor"].([]byte)
		r.BootstrapServers = append(r.BootstrapServers, s)
	}
	return r
}

func (o *OnboardingInformation) toObject() object {
	obj := object{}
	if b := o.BootImage; b != nil {
		img := object{}
		setString(img, "os-name", b.OSName)
		setString(img, "os-version", b.OSVersion)
		if len(b.DownloadURIs) > 0 {
			uris := make([]any, len(b.DownloadURIs))
			for i, u := range b.DownloadURIs {
				uris[i] = u
			}
			img["download-uri"] = uris
		}
		if len(b.ImageVerifications) > 0 {
			var ivs []object
			for _, iv := range b.ImageVerifications {
				ivs = append(ivs, object{"hash-algorithm": iv.HashAlgorithm, "hash-value": iv.HashValue})
			}
			img["image-verification"] = ivs
		}
		obj["boot-image"] = img
	}
	setString(obj, "configuration-handling", o.ConfigurationHandling)
	setBytes(obj, "pre-configuration-script", o.PreConfigurationScript)
	setBytes(obj, "configuration", o.Configuration)
	setBytes(obj, "post-configuration-script", o.PostConfigurationScript)
	return obj
}

func onboardingFrom(obj object) *OnboardingInformation {
	o := &OnboardingInformation{ConfigurationHandling: str(obj["configuration-handling"])}
	o.PreConfigurationScript, _ = obj["pre-configuration-script"].([]byte)
	o.Configuration, _ = obj["configuration"].([]byte)
	o.PostConfigurationScript, _ = obj["post-configuration-script"].([]byte)
	img, ok := obj["boot-image"].(object)
	if !ok {
		return o
	}
	o.BootImage = &BootImage{OSName: str(img["os-name"]), OSVersion: str(img["os-version"])}
	uris, _ := img["download-uri"].([]any)
	for _, u := range uris {
		o.BootImage.DownloadURIs = append(o.BootImage.DownloadURIs, str(u))
	}
	ivs, _ := img["image-verification"].([]object)
	for _, iv := range ivs {
		v, _ := iv["hash-value"].([]byte)
		o.BootImage.ImageVerifications = append(o.BootImage.ImageVerifications, ImageVerification{HashAlgorithm: str(iv["hash-algorithm"]), HashValue: v})
	}
	return o
}

func str(v any) string { s, _ := v.(string); return s }

func setString(obj object, name, v string) {
	if v != "" {
		obj[name] = v
	}
}

func setBytes(obj object, name string, v []byte) {
	if v != nil {
		obj[name] = v
	}
}
