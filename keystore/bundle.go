package keystore

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/sealboot/sealboot/keystore/regfile"
)

// PKCS7Parser reads the certificates of a PKCS#7 / CMS SignedData
// (certificates-only, "degenerate", as `openssl crl2pkcs7 -nocrl` writes
// a .p7b), PEM or DER. cms.ParseCertificates is one; the keystore takes it
// from its caller because package cms's tests build on this package.
type PKCS7Parser func(data []byte) ([]*x509.Certificate, error)

// Bundle is a device certificate as vendors ship it: the device's own
// certificate (the leaf, its IDevID) and the certificates that were given
// with it, from the leaf's issuer upwards (intermediates, maybe the root).
type Bundle struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
}

// maxBundle bounds the certificates read from one file or response.
const maxBundle = 32

// ParseCertificates reads every certificate in data: PEM (CERTIFICATE
// blocks, and PKCS7 or CMS blocks when p7 is not nil), one DER
// certificate, or, with p7, a DER PKCS#7 bundle.
func ParseCertificates(data []byte, p7 PKCS7Parser) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		if cert, err := x509.ParseCertificate(data); err == nil {
			return []*x509.Certificate{cert}, nil
		} else if p7 == nil {
			return nil, fmt.Errorf("%w: %v", ErrNotCertificate, err)
		}
		certs, err := p7(data)
		if err != nil {
			return nil, fmt.Errorf("%w: neither a DER certificate nor a PKCS#7 bundle", ErrNotCertificate)
		}
		return checkCount(certs)
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNotCertificate, err)
			}
			out = append(out, cert)
		case (block.Type == "PKCS7" || block.Type == "CMS") && p7 != nil:
			certs, err := p7(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PKCS#7 bundle: %v", ErrNotCertificate, err)
			}
			out = append(out, certs...)
		}
		if len(out) > maxBundle {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in PEM data", ErrNotCertificate)
	}
	return checkCount(out)
}

func checkCount(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	switch {
	case len(certs) == 0:
		return nil, fmt.Errorf("%w: the bundle is empty", ErrNotCertificate)
	case len(certs) > maxBundle:
		return nil, fmt.Errorf("%w: more than %d certificates in one bundle", ErrNotCertificate, maxBundle)
	}
	return certs, nil
}

// ParseBundle reads a device certificate with its chain (see
// ParseCertificates) and picks the device's own certificate: the one whose
// subject names serial, when serial is given and one does; otherwise the
// one certificate that is not a CA and issued none of the others. Several
// such certificates (several devices' in one file) are ErrSeveralCertificates.
func ParseBundle(data []byte, serial string, p7 PKCS7Parser) (*Bundle, error) {
	certs, err := ParseCertificates(data, p7)
	if err != nil {
		return nil, err
	}
	leaf, err := pickLeaf(certs, serial)
	if err != nil {
		return nil, err
	}
	return &Bundle{Leaf: leaf, Chain: chainOf(leaf, certs)}, nil
}

// ErrSeveralCertificates is a bundle with several devices' certificates
// given where one device's certificate is expected.
var ErrSeveralCertificates = errors.New("the data holds several device certificates (not one certificate and its chain); give one device's certificate, or its serial")

func pickLeaf(certs []*x509.Certificate, serial string) (*x509.Certificate, error) {
	if len(certs) == 1 {
		return certs[0], nil
	}
	if serial != "" {
		for _, c := range certs {
			if s, err := SubjectSerial(c); err == nil && s == serial && !isCA(c) {
				return c, nil
			}
		}
	}
	var leaves []*x509.Certificate
	for _, c := range certs {
		if !isCA(c) && !issuesAny(c, certs) {
			leaves = append(leaves, c)
		}
	}
	if len(leaves) != 1 {
		return nil, ErrSeveralCertificates
	}
	return leaves[0], nil
}

func isCA(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

// issuesAny reports whether c is the issuer named by another certificate.
func issuesAny(c *x509.Certificate, certs []*x509.Certificate) bool {
	for _, o := range certs {
		if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && !bytes.Equal(o.RawSubject, o.RawIssuer) {
			return true
		}
	}
	return false
}

// chainOf follows issuers from leaf through certs: the chain as shipped,
// in order, without the leaf and without certificates that are not on it.
func chainOf(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		var next *x509.Certificate
		for _, c := range certs {
			if !used[c] && bytes.Equal(c.RawSubject, cur.RawIssuer) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		used[next] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// PEM encodes the bundle as a certificate file: the leaf first, then its
// chain, each a CERTIFICATE block (what `openssl x509` and browsers read).
func (b *Bundle) PEM() []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Leaf.Raw})
	for _, c := range b.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Chain returns the certificates filed after serial's certificate (its
// issuers, as the vendor shipped them: an SZTP device's IDevID chain);
// none when it came alone. The file is read now: chains are not kept in
// memory, where a hundred thousand devices share a few intermediates.
func (s *Store) Chain(serial string) ([]*x509.Certificate, error) {
	s.mu.RLock()
	r, ok := s.serial[serial]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("chain of %s: %w", serial, ErrNoSuchSerial)
	}
	dir, err := regfile.OpenDir(s.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("chain of %s: %w", serial, err)
	}
	defer dir.Close()
	data, _, err := dir.ReadFile(r.entry.File, maxCertificateFile)
	if err != nil {
		return nil, fmt.Errorf("chain of %s: %w", serial, err)
	}
	b, err := ParseBundle(data, serial, s.opts.PKCS7)
	if err != nil {
		return nil, fmt.Errorf("chain of %s: %w", serial, err)
	}
	if SPKIFingerprint(b.Leaf) != r.fp {
		return nil, fmt.Errorf("chain of %s: %s changed since it was read", serial, r.entry.File)
	}
	return b.Chain, nil
}
