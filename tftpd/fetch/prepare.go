package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/sealboot/sealboot/keystore/cms"
)

// What Prepare returns on refusal: generic, since the text may reach the
// client (a TFTP error message, an HTTP status). The cause is in the
// attempt's reason.
var (
	// ErrNotFound covers every refusal: no such name or config, no
	// certificate, the binding check, a denied name.
	ErrNotFound = errors.New("file not found")
	// ErrServer is a fault of ours, such as a failed seal.
	ErrServer = errors.New("server error")
)

// Resolve sets the serial the attempt's name carries, without checking
// anything: for the event of a request refused before Prepare (busy).
func (c *Core) Resolve(a *Attempt) {
	a.Serial, _, _ = c.set.Load().resolver.resolve(a.File)
}

// Identify sets the serial and MAC of the device our DHCP server last
// acknowledged at the attempt's address, when there is one: for the event
// of a request that names no config (an image, a refused path), so that
// it still says which device asked.
func (c *Core) Identify(a *Attempt) {
	if b := c.deps.Bindings; b != nil {
		if serial, mac, ok := b.LookupIP(a.Remote.Addr()); ok {
			a.Serial, a.MAC = serial, mac
		}
	}
}

// Prepare resolves the attempt's name to a serial, applies the binding
// check and the plaintext policy, and returns the bytes to send: the
// serial's config sealed to its certificate. On refusal it sets the
// attempt's outcome and reason and returns ErrNotFound or ErrServer.
// The bytes are shared with the cache: never write to them.
func (c *Core) Prepare(a *Attempt) ([]byte, error) {
	st := c.set.Load()
	serial, fixed, err := st.resolver.resolve(a.File)
	switch {
	case errors.Is(err, errDeniedName):
		a.Refuse(OutcomeDeniedName, err.Error())
		return nil, ErrNotFound
	case err != nil:
		a.Refuse(OutcomeNotFound, err.Error())
		return nil, ErrNotFound
	}
	if err := c.checkBinding(a, st, serial, fixed); err != nil {
		return nil, err
	}
	// The warm path (a retry, a retransmission, another device with the
	// same config) needs neither the config's bytes nor the certificate.
	sum, err := c.deps.Configs.Sum(a.Serial)
	if err != nil {
		return nil, configError(a, err)
	}
	fp, ok := c.deps.Certificates.Fingerprint(a.Serial)
	if !ok {
		return c.plaintext(a, st)
	}
	a.Fingerprint, a.Encrypted = fp, true
	key := cacheKey(sum, fp, st)
	if data, ok := c.cache.get(key); ok {
		a.Cached = true
		return data, nil
	}
	// Concurrent requests for the same version share one read and one
	// seal (a POP powering up asks for one config many times at once).
	v, err, _ := c.seals.Do(key, func() (any, error) { return c.seal(a.Serial, st) })
	if err != nil {
		var se *sealError
		if errors.As(err, &se) {
			a.Refuse(se.outcome, se.reason)
			if se.outcome == OutcomeError {
				return nil, ErrServer
			}
			return nil, ErrNotFound
		}
		return nil, configError(a, err)
	}
	s := v.(sealed)
	if s.plaintext { // the certificate went in between
		return c.plaintext(a, st)
	}
	a.Fingerprint = s.fingerprint
	return s.data, nil
}

// sealed is what one seal produced, shared by the requests that waited
// for it.
type sealed struct {
	data        []byte
	fingerprint string
	plaintext   bool // no certificate any more: apply the plaintext policy
}

// sealError is a refusal decided inside the shared seal.
type sealError struct{ outcome, reason string }

func (e *sealError) Error() string { return e.reason }

// seal reads serial's config and seals it to its certificate, and keeps
// the result in the cache. A config already sealed to the device is kept
// as it is, once one of its recipients is the certificate.
func (c *Core) seal(serial string, st *settings) (sealed, error) {
	if pre, sum, rs, ok, err := c.deps.Configs.Presealed(serial); err != nil || ok {
		if err != nil {
			return sealed{}, err
		}
		return c.presealed(serial, pre, sum, rs, st)
	}
	config, sum, err := c.deps.Configs.Config(serial)
	if err != nil {
		return sealed{}, err
	}
	cert, fp, ok := c.deps.Certificates.Certificate(serial)
	if !ok {
		if _, listed := c.deps.Certificates.Fingerprint(serial); listed {
			// Listed, but its file cannot give the certificate now (being
			// rewritten, or not what the keystore's scan found): refused,
			// never served in the clear as if there were none.
			return sealed{}, &sealError{OutcomeError, "certificate listed but cannot be read now"}
		}
		return sealed{plaintext: true}, nil
	}
	data, err := cms.Seal(cert, config, st.cfg.Seal)
	if err != nil {
		return sealed{}, &sealError{OutcomeError, "seal: " + err.Error()}
	}
	c.cache.put(cacheKey(sum, fp, st), data)
	return sealed{data: data, fingerprint: fp}, nil
}

// presealed checks a config sealed to the device against the serial's
// certificate as it is now (the configs directory checked it when it
// settled, but a new certificate may have come since) and caches it.
func (c *Core) presealed(serial string, data []byte, sum [32]byte, rs []cms.Recipient, st *settings) (sealed, error) {
	cert, fp, ok := c.deps.Certificates.Certificate(serial)
	if !ok {
		return sealed{plaintext: true}, nil
	}
	if !slices.ContainsFunc(rs, func(r cms.Recipient) bool { return r.Matches(cert) }) {
		return sealed{}, &sealError{OutcomeNotFound, fmt.Sprintf(
			"config not servable: presealed config is not sealed to the pinned certificate (recipients %v, pinned %s)", rs, cms.Describe(cert))}
	}
	c.cache.put(cacheKey(sum, fp, st), data)
	return sealed{data: data, fingerprint: fp}, nil
}

func cacheKey(sum [32]byte, fp string, st *settings) string {
	return string(sum[:]) + fp + st.sealKey
}

func configError(a *Attempt, err error) error {
	a.Refuse(OutcomeNotFound, err.Error())
	if !errors.Is(err, fs.ErrNotExist) {
		a.Reason = "config not servable: " + err.Error()
	}
	return ErrNotFound
}

// plaintext applies the plaintext policy to a serial with no certificate.
func (c *Core) plaintext(a *Attempt, st *settings) ([]byte, error) {
	a.Encrypted, a.Fingerprint = false, ""
	if _, _, _, pre, _ := c.deps.Configs.Presealed(a.Serial); pre {
		a.Refuse(OutcomeNoCertificate, "presealed config and no certificate to check its recipients against: not served")
		return nil, ErrNotFound
	}
	if !st.cfg.AllowPlaintext && !st.plaintext[a.Serial] {
		a.Refuse(OutcomeNoCertificate, "config present but no certificate: not served in the clear")
		return nil, ErrNotFound
	}
	config, _, err := c.deps.Configs.Config(a.Serial)
	if err != nil {
		return nil, configError(a, err)
	}
	a.Reason = "no certificate; plaintext allowed by tftp.allow_plaintext/plaintext_serials"
	return config, nil
}

// checkBinding finds the serial of a fixed name through the DHCP binding
// of the asking address, and checks that a serial's file goes only to the
// address leased to that serial (RFC 8886 section 2.1).
func (c *Core) checkBinding(a *Attempt, st *settings, serial string, fixed bool) error {
	var bound string
	var found bool
	if b := c.deps.Bindings; b != nil {
		bound, a.MAC, found = b.LookupIP(a.Remote.Addr())
	}
	switch {
	case fixed && (!found || bound == ""):
		a.Refuse(OutcomeNotFound, "fixed name and no DHCP binding with a serial for this address")
		return ErrNotFound
	case fixed:
		a.Serial = bound
	case st.cfg.BindingCheck && !found:
		a.Serial = serial
		a.Refuse(OutcomeBindingMismatch, "no DHCP lease for this address")
		return ErrNotFound
	case st.cfg.BindingCheck && bound != serial:
		a.Serial = serial
		a.Refuse(OutcomeBindingMismatch, fmt.Sprintf("address is leased to serial %q", bound))
		return ErrNotFound
	default:
		a.Serial = serial
	}
	return nil
}

// Plaintext returns the settled plaintext config of a.Serial, for a
// transport that authenticated the device itself and protects what it
// sends in its own way (SZTP: a TLS client certificate, then conveyed
// information that is signed and encrypted, or not, by RFC 8572's rules).
// There is no name to resolve and no DHCP binding to check; the config is
// read exactly as Prepare reads it, with the same outcomes: a serial with
// no config, or one that cannot be served, is not_found with its reason.
// The fingerprint of the serial's certificate, when it has one, is set on
// the attempt. The error matches ErrNotFound, and fs.ErrNotExist when
// there is no config at all. The bytes are the caller's to keep but not to
// change.
func (c *Core) Plaintext(a *Attempt) ([]byte, error) {
	if a.Serial == "" {
		a.Refuse(OutcomeNotFound, "no serial")
		return nil, ErrNotFound
	}
	if fp, ok := c.deps.Certificates.Fingerprint(a.Serial); ok {
		a.Fingerprint = fp
	}
	if _, _, _, pre, _ := c.deps.Configs.Presealed(a.Serial); pre {
		a.Refuse(OutcomeNotFound, "config is presealed (already sealed to the device): this transport carries the config inside "+
			"its own signed and encrypted envelope (SZTP onboarding information, RFC 8572 sections 2.2 and 3.4); "+
			"give this serial a plaintext or appliance-sealed config")
		return nil, fmt.Errorf("%w: presealed config", ErrNotFound)
	}
	config, _, err := c.deps.Configs.Config(a.Serial)
	if err != nil {
		configError(a, err)
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return config, nil
}
