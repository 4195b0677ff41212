package voucher

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// Check applies what a device checks before it trusts a voucher (RFC 8366
// section 5.3, RFC 8572 section 5.4): the serial number is its own, the
// voucher has not expired, a nonce in the voucher is the one it sent, the
// IDevID issuer matches, and the owner certificate chains to the
// pinned-domain-cert.
func (v *Voucher) Check(c Checks) error {
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case v.SerialNumber != c.Serial:
		return fmt.Errorf("%w: voucher for %q, device %q", ErrSerial, v.SerialNumber, c.Serial)
	case !v.ExpiresOn.IsZero() && now.After(v.ExpiresOn):
		return fmt.Errorf("%w: expired on %s", ErrExpired, v.ExpiresOn.UTC().Format(time.RFC3339))
	case v.Nonce != nil && !bytes.Equal(v.Nonce, c.Nonce):
		return fmt.Errorf("%w: the voucher carries a nonce the request did not send", ErrNonce)
	case v.IDevIDIssuer != nil && c.IDevIDIssuer != nil && !bytes.Equal(v.IDevIDIssuer, c.IDevIDIssuer):
		return ErrIDevIDIssuer
	}
	if c.Owner != nil {
		return v.checkOwner(c.Owner, now)
	}
	return nil
}

// checkOwner verifies that owner[0] is the pinned-domain-cert or chains to
// it through owner[1:].
func (v *Voucher) checkOwner(owner []*x509.Certificate, now time.Time) error {
	if len(owner) == 0 || owner[0] == nil {
		return fmt.Errorf("%w: no owner certificate", ErrPinnedDomainCert)
	}
	leaf := owner[0]
	if leaf.Equal(v.PinnedDomainCert) {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("%w: the owner certificate is not valid at %s", ErrPinnedDomainCert, now.UTC().Format(time.RFC3339))
		}
		return nil
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(v.PinnedDomainCert)
	for _, c := range owner[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %v", ErrPinnedDomainCert, err)
	}
	return nil
}
