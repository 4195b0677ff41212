// Package sztpd is the SZTP bootstrap server (RFC 8572 section 7): a
// RESTCONF API over HTTPS with get-bootstrapping-data and report-progress,
// for devices that authenticate with their factory certificate (IDevID,
// verified against the vendors' trust anchors) or with HTTP Basic.
//
// It is a thin adapter over what sealboot already holds: the device's
// plaintext config comes from the fetch core (tftpd/fetch, the same checks
// and outcomes as TFTP and HTTP), its certificate from the keystore (to
// pin the key and to encrypt to it), its boot image from its boot profile
// and the images directory, the owner's certificate and the vendor's
// ownership voucher from files. Conveyed information is unsigned, signed
// (owner certificate + voucher), encrypted (to the device's certificate),
// or signed then encrypted (RFC 8572 section 3). Each request is one
// sztp.request event; each progress report one sztp.progress event.
package sztpd

import (
	"crypto/x509"
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Modes of sign and encrypt: whether conveyed information is signed by the
// owner (with the device's voucher), encrypted to the device's
// certificate.
const (
	ModeAuto   = "auto"   // when the device's voucher (sign) or certificate (encrypt) is there
	ModeAlways = "always" // refuse the device without it
	ModeNever  = "never"
)

// Config is the server's configuration; Update takes a new one at run
// time except for Listen.
type Config struct {
	Listen  []string // host:port; at least one
	TLSCert string   // PEM file: the server certificate and its chain
	TLSKey  string
	// BasicAuth is a file of "serial sha256-hex-of-password" lines for
	// devices without an IDevID; empty: Basic is refused.
	BasicAuth string
	// OwnerCert holds the owner certificate and the intermediates up to
	// the vouchers' pinned-domain-cert (PEM); OwnerKey its key.
	OwnerCert   string
	OwnerKey    string
	VouchersDir string // <serial>.vcj, as the vendor's MASA issued them
	Sign        string // ModeAuto (default), ModeAlways, ModeNever
	Encrypt     string // ModeAuto (default), ModeAlways, ModeNever
	// Redirect, when set, sends every device to these bootstrap servers
	// (redirect information) instead of onboarding it.
	Redirect []Redirect
	// ReportingLevel is "minimal" (default) or "verbose".
	ReportingLevel string
	// ImageURL is the base of the boot images' download URIs; empty:
	// http(s)://<the address the device reached us on>:<ImagePort>/images.
	ImageURL    string
	ImageScheme string // http or https, for the default ImageURL
	ImagePort   int
	Profiles    []Profile
	// Limits.
	MaxRequests    int           // requests handled at once; more get 503 (default 256)
	MaxBody        int64         // request body bytes (default 1 MiB)
	RequestTimeout time.Duration // to read a request and write its answer (default 30s)
	Seal           SealOptions
}

// Redirect is one bootstrap server of redirect information.
type Redirect struct {
	Address string
	Port    int
	// TrustAnchor is a PEM file of the certificates that authenticate
	// that server's TLS certificate; empty: none sent.
	TrustAnchor string
}

// Profile is what SZTP takes of a boot profile: which devices (vendor as
// the trust anchor file names it, model as the request's hw-model, serials)
// and what they get.
type Profile struct {
	Name                  string
	Vendor                string
	Model                 string // path.Match glob, lower case
	Serials               []string
	Image                 string // file in the images directory
	OSName                string
	OSVersion             string
	PreScript             string // file
	PostScript            string // file
	ConfigurationHandling string // merge (default) or replace
}

// SealOptions are the encryption settings (the seal section).
type SealOptions struct {
	Cipher        string
	OAEP          bool
	KDF           string
	AllowSmallRSA bool
}

// Configs gives a device's plaintext config through the fetch core, with
// its checks and outcomes. *fetch.Core implements it.
type Configs interface {
	Plaintext(a *fetch.Attempt) ([]byte, error)
}

// Certificates gives a serial's certificate from the keystore and the hex
// SHA-256 of its SubjectPublicKeyInfo. *keystore.Store implements it.
type Certificates interface {
	Certificate(serial string) (cert *x509.Certificate, fingerprint string, ok bool)
	// Fingerprint tells whether the keystore lists a certificate for
	// serial, without reading it.
	Fingerprint(serial string) (fingerprint string, ok bool)
}

// Anchors verifies a client certificate chain and names the vendor of the
// anchor it chains to. *anchors.Dir implements it.
type Anchors interface {
	Verify(chain []*x509.Certificate, now time.Time) (vendor string, err error)
}

// Images tells an image's size and SHA-256 (hex) once it is hashed.
// *images.Dir implements it; nil: profiles' images are not sent.
type Images interface {
	Lookup(name string) (size int64, sha256 string, ready bool)
}

// Deps are what the server reads from.
type Deps struct {
	Configs      Configs
	Certificates Certificates
	Anchors      Anchors
	Images       Images
}
