package voucher

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// container is the member that holds a voucher (RFC 7951 section 4: the
// top-level node is qualified by its module's name).
const container = "ietf-voucher:voucher"

// maxJSON bounds a voucher's JSON: a pinned certificate and a few leaves.
const maxJSON = 64 << 10

// Parse reads a voucher's JSON (RFC 8366 section 5.3 in the RFC 7951
// encoding) and checks it against the module: every mandatory leaf, the
// types, the enumeration, the nonce length, and the must statements
// (expires-on and nonce exclude each other; last-renewal-date needs
// expires-on). Unknown members are refused.
func Parse(data []byte) (*Voucher, error) {
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%w: %d bytes of JSON", ErrInvalid, len(data))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	body, ok := top[container]
	if !ok || len(top) != 1 {
		return nil, fmt.Errorf("%w: the JSON must hold exactly one member, %q", ErrInvalid, container)
	}
	var leaves map[string]json.RawMessage
	if err := json.Unmarshal(body, &leaves); err != nil || leaves == nil {
		return nil, fmt.Errorf("%w: %s is not an object", ErrInvalid, container)
	}
	v := &Voucher{}
	for name, raw := range leaves {
		if err := v.setLeaf(strings.TrimPrefix(name, "ietf-voucher:"), raw); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Voucher) setLeaf(name string, raw json.RawMessage) error {
	var err error
	switch name {
	case "created-on":
		v.CreatedOn, err = dateAndTime(raw)
	case "expires-on":
		v.ExpiresOn, err = dateAndTime(raw)
	case "last-renewal-date":
		v.LastRenewalDate, err = dateAndTime(raw)
	case "assertion":
		v.Assertion, err = str(raw)
	case "serial-number":
		v.SerialNumber, err = str(raw)
	case "idevid-issuer":
		v.IDevIDIssuer, err = binary(raw)
	case "nonce":
		v.Nonce, err = binary(raw)
	case "pinned-domain-cert":
		var der []byte
		if der, err = binary(raw); err == nil {
			v.PinnedDomainCert, err = x509.ParseCertificate(der)
		}
	case "domain-cert-revocation-checks":
		var b bool
		b, err = boolean(raw)
		v.DomainCertRevocationChecks = &b
	default:
		return fmt.Errorf("not a leaf of the voucher container")
	}
	return err
}

// validate applies the module's mandatory, enumeration, length and must
// statements.
func (v *Voucher) validate() error {
	switch {
	case v.CreatedOn.IsZero():
		return fmt.Errorf("%w: created-on is mandatory", ErrInvalid)
	case v.Assertion == "":
		return fmt.Errorf("%w: assertion is mandatory", ErrInvalid)
	case v.Assertion != AssertionVerified && v.Assertion != AssertionLogged && v.Assertion != AssertionProximity:
		return fmt.Errorf("%w: assertion %q is not verified, logged or proximity", ErrInvalid, v.Assertion)
	case v.SerialNumber == "":
		return fmt.Errorf("%w: serial-number is mandatory", ErrInvalid)
	case v.PinnedDomainCert == nil:
		return fmt.Errorf("%w: pinned-domain-cert is mandatory", ErrInvalid)
	case v.Nonce != nil && (len(v.Nonce) < 8 || len(v.Nonce) > 32):
		return fmt.Errorf("%w: nonce of %d bytes (8 to 32)", ErrInvalid, len(v.Nonce))
	case v.Nonce != nil && !v.ExpiresOn.IsZero():
		return fmt.Errorf("%w: expires-on and nonce exclude each other", ErrInvalid)
	case !v.LastRenewalDate.IsZero() && v.ExpiresOn.IsZero():
		return fmt.Errorf("%w: last-renewal-date needs expires-on", ErrInvalid)
	}
	return nil
}

func str(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("not a string")
	}
	return s, nil
}

// dateAndTime reads yang:date-and-time (RFC 6991): RFC 3339 with a zone.
func dateAndTime(raw json.RawMessage) (time.Time, error) {
	s, err := str(raw)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date-and-time", s)
	}
	return t, nil
}

// binary reads the RFC 7951 encoding of a binary leaf: base64 with
// padding (RFC 4648 section 4).
func binary(raw json.RawMessage) ([]byte, error) {
	s, err := str(raw)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64")
	}
	return b, nil
}

// boolean reads a JSON boolean; RFC 8366's own example writes the string
// "true", which is accepted too.
func boolean(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	switch s, _ := str(raw); s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}

// MarshalJSON writes the voucher in the RFC 7951 encoding.
func (v *Voucher) MarshalJSON() ([]byte, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	m := map[string]any{
		"created-on":         v.CreatedOn.UTC().Format(time.RFC3339),
		"assertion":          v.Assertion,
		"serial-number":      v.SerialNumber,
		"pinned-domain-cert": base64.StdEncoding.EncodeToString(v.PinnedDomainCert.Raw),
	}
	if !v.ExpiresOn.IsZero() {
		m["expires-on"] = v.ExpiresOn.UTC().Format(time.RFC3339)
	}
	if !v.LastRenewalDate.IsZero() {
		m["last-renewal-date"] = v.LastRenewalDate.UTC().Format(time.RFC3339)
	}
	if v.IDevIDIssuer != nil {
		m["idevid-issuer"] = base64.StdEncoding.EncodeToString(v.IDevIDIssuer)
	}
	if v.Nonce != nil {
		m["nonce"] = base64.StdEncoding.EncodeToString(v.Nonce)
	}
	if v.DomainCertRevocationChecks != nil {
		m["domain-cert-revocation-checks"] = *v.DomainCertRevocationChecks
	}
	return json.Marshal(map[string]any{container: m})
}

// decodeArtifact accepts the artifact as DER, PEM, or base64 text (how
// vouchers are often handed around, and how RFC 8572 carries them in
// JSON).
func decodeArtifact(data []byte) []byte {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] == 0x30 || bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return data
	}
	if b, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(trimmed), nil))); err == nil {
		return b
	}
	return data
}
