package sztpd

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// Outcomes of SZTP requests beyond the fetch core's (which keep their
// words: served, not_found, no_certificate, busy, error).
const (
	OutcomeUnauthenticated = "unauthenticated"       // no certificate and no Basic credentials
	OutcomeUntrusted       = "untrusted_certificate" // chains to no trust anchor, expired, no usable serial
	OutcomeBadPassword     = "bad_password"          // Basic credentials that do not match
	OutcomePinMismatch     = "pin_mismatch"          // the keystore pins another key for this serial (RMA)
	OutcomeBadRequest      = "bad_request"           // malformed body, wrong media type, wrong method
	OutcomeNoVoucher       = "no_voucher"            // signed data needed, no usable voucher or owner key
	OutcomeVoucherInvalid  = "voucher_invalid"       // the device's voucher does not fit (serial, expiry, nonce, pin)
	OutcomeAccepted        = "accepted"              // a progress report
)

// Outcomes lists every outcome of sztp.request events, for metrics.
func Outcomes() []string {
	return []string{
		fetch.OutcomeServed, fetch.OutcomeNotFound, fetch.OutcomeNoCertificate, fetch.OutcomeBusy, fetch.OutcomeError,
		OutcomeUnauthenticated, OutcomeUntrusted, OutcomeBadPassword, OutcomePinMismatch, OutcomeBadRequest,
		OutcomeNoVoucher, OutcomeVoucherInvalid, OutcomeAccepted,
	}
}

// device is who a request authenticated as.
type device struct {
	serial string
	vendor string              // the trust anchor file's name; "" with Basic
	auth   string              // "tls" or "basic"
	cert   *x509.Certificate   // the IDevID; nil with Basic
	chain  []*x509.Certificate // what the client sent
}

// authError is a refusal before the device is known.
type authError struct {
	outcome, reason string
	status          int
}

// authenticate finds the device behind a request: its TLS client
// certificate (chained to a vendor's trust anchor, serial read as the
// keystore reads it, key checked against the keystore's pin), else HTTP
// Basic against the password file.
func (s *Server) authenticate(r *http.Request, st *settings, rec *request) (*device, *authError) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return s.authTLS(r.TLS.PeerCertificates, rec)
	}
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok:
		return nil, &authError{OutcomeUnauthenticated, "no client certificate and no Basic credentials", http.StatusUnauthorized}
	case st.passwords == nil:
		return nil, &authError{OutcomeUnauthenticated, "Basic credentials, but sztp.basic_auth is not set", http.StatusUnauthorized}
	}
	rec.Serial = fetch.ClientText(clip(user, 64))
	want, known := st.passwords[user]
	got := sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
		reason := "wrong password"
		if !known {
			reason = "no password for this serial in sztp.basic_auth"
		}
		return nil, &authError{OutcomeBadPassword, reason, http.StatusUnauthorized}
	}
	return &device{serial: user, auth: "basic"}, nil
}

// maxClientChain bounds the certificates a client may send: its IDevID
// and the vendor CAs under the anchor (one to three in practice). The
// chain is verified at every request, and each intermediate a client adds
// is more signatures to check (x509 stops at 100): a long one let an
// unauthenticated client cost the CPUs milliseconds per tiny request.
const maxClientChain = 8

func (s *Server) authTLS(chain []*x509.Certificate, rec *request) (*device, *authError) {
	leaf := chain[0]
	rec.Fingerprint = keystore.SPKIFingerprint(leaf).String()
	serial, serr := keystore.SubjectSerial(leaf)
	// The serial the certificate claims, trusted or not, names the device
	// in the event (as a TFTP name does before any check).
	claimed := leaf.Subject.SerialNumber
	if claimed == "" {
		claimed = leaf.Subject.CommonName
	}
	rec.Serial = fetch.ClientText(clip(claimed, 64))
	if serr == nil {
		rec.Serial = serial
	}
	if len(chain) > maxClientChain {
		return nil, &authError{OutcomeUntrusted, fmt.Sprintf("the client sent %d certificates, more than %d", len(chain), maxClientChain), http.StatusUnauthorized}
	}
	vendor, err := s.deps.Anchors.Verify(chain, s.now())
	if stored := s.storedChain(serial, serr, leaf, err); stored != nil {
		// A device that sends its IDevID alone: its intermediates as the
		// vendor shipped them with its certificate complete the path.
		vendor, err = s.deps.Anchors.Verify(append(append([]*x509.Certificate{}, chain...), stored...), s.now())
	}
	if err != nil {
		return nil, &authError{OutcomeUntrusted, err.Error(), http.StatusUnauthorized}
	}
	if serr != nil {
		return nil, &authError{OutcomeUntrusted, serr.Error(), http.StatusUnauthorized}
	}
	rec.Serial, rec.vendor = serial, vendor
	// The keystore pins one key per serial: a certificate for the serial
	// with another key is a device replaced (RMA) or an impostor.
	if _, fp, ok := s.deps.Certificates.Certificate(serial); ok && fp != rec.Fingerprint {
		return nil, &authError{OutcomePinMismatch, "the keystore holds another key for this serial (pinned " + fp + ")", http.StatusForbidden}
	}
	return &device{serial: serial, vendor: vendor, auth: "tls", cert: leaf, chain: chain}, nil
}

// now is the server's clock; a field so that tests can move it.
func (s *Server) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Chains gives the certificates the keystore keeps after a serial's
// certificate (its issuers, as the vendor shipped them). *keystore.Store
// implements it; Deps.Certificates may, to complete the chain of a device
// that sends its IDevID without its intermediates.
type Chains interface {
	Chain(serial string) ([]*x509.Certificate, error)
}

// storedChain is the keystore's chain for serial, when the chain the
// device sent did not verify and the keystore holds this very key for the
// serial; nil otherwise. The stored certificates are untrusted
// intermediates only: trust still comes from the anchors.
func (s *Server) storedChain(serial string, serr error, leaf *x509.Certificate, verr error) []*x509.Certificate {
	cs, ok := s.deps.Certificates.(Chains)
	if verr == nil || serr != nil || !ok {
		return nil
	}
	if _, fp, have := s.deps.Certificates.Certificate(serial); !have || fp != keystore.SPKIFingerprint(leaf).String() {
		return nil
	}
	chain, err := cs.Chain(serial)
	if err != nil || len(chain) == 0 {
		return nil
	}
	return chain
}
