package device

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// SZTP makes the device an SZTP agent (RFC 8572 section 5) instead of an
// RFC 8886 one: it asks DHCP for option 143 (DHCPv6 136), and from each
// bootstrap server it names asks for its bootstrapping data over HTTPS
// with its IDevID, checks what it gets (voucher, owner certificate,
// signature; decrypts with its key), fetches and checks its boot image,
// records its scripts (it runs nothing), installs its config and reports
// its progress.
type SZTP struct {
	// Chain is the IDevID (the certificate of Config.Key) and the
	// intermediates the device sends with it.
	Chain []*x509.Certificate
	// ServerRoots authenticate bootstrap servers; nil: every server is
	// untrusted, so only signed data is accepted (RFC 8572 section 5.3).
	ServerRoots *x509.CertPool
	// MASARoots verify ownership vouchers; nil: signed data fails.
	MASARoots *x509.CertPool
	Nonce     bool // send a random nonce (16 bytes)
	XML       bool // speak XML instead of JSON
	// OSName and OSVersion are what the device runs: sent, and compared
	// with the boot image it is given (a match needs no download).
	OSName, OSVersion string
	HTTPTimeout       time.Duration // per request; default 10s
}

// Outcomes of an SZTP boot beyond the RFC 8886 ones.
const (
	OutcomeSZTPFailed    = "sztp_failed"    // no bootstrap server answered with data
	OutcomeUntrusted     = "untrusted"      // the data did not verify, or was unsigned from an untrusted server
	OutcomeImageMismatch = "image_mismatch" // the boot image's hash differs, or it could not be fetched
)

// maxRedirects bounds how many redirects a device follows.
const maxRedirects = 3

// sztpURIs reads RFC 8572 section 8.3's bootstrap-server-list: each URI
// after its length in two bytes.
func sztpURIs(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		if len(b) < 2 || int(binary.BigEndian.Uint16(b)) > len(b)-2 {
			return nil, errors.New("malformed SZTP redirect option (RFC 8572 section 8.3)")
		}
		n := int(binary.BigEndian.Uint16(b))
		out, b = append(out, string(b[2:2+n])), b[2+n:]
	}
	if len(out) == 0 {
		return nil, errors.New("empty SZTP redirect option")
	}
	return out, nil
}

// agent is one SZTP attempt's state.
type agent struct {
	cfg   *Config
	local netip.Addr
	res   *Result
	nonce []byte
}

// sztpAttempt asks each bootstrap server in turn until one onboards the
// device.
func (cfg *Config) sztpAttempt(ctx context.Context, lease *dhcpLease, res *Result) {
	a := &agent{cfg: cfg, local: lease.addr, res: res}
	if cfg.SZTP.Nonce {
		a.nonce = make([]byte, 16)
		_, _ = rand.Read(a.nonce)
	}
	var errs []error
	for _, uri := range lease.sztp {
		if a.bootstrap(ctx, uri, cfg.SZTP.ServerRoots, 0) {
			return
		}
		if res.Error != "" {
			errs = append(errs, errors.New(res.Error))
		}
	}
	if res.Outcome == "" {
		res.Outcome, res.Error = OutcomeSZTPFailed, errors.Join(errs...).Error()
	}
}

// bootstrap asks one server; roots nil means the server is untrusted. It
// reports whether the device is onboarded.
func (a *agent) bootstrap(ctx context.Context, uri string, roots *x509.CertPool, depth int) bool {
	a.res.File, a.res.Server = uri, hostOf(uri)
	c := a.client(roots)
	defer c.CloseIdleConnections()
	trusted := roots != nil
	out, err := a.get(ctx, c, uri, trusted)
	if err != nil {
		a.res.Outcome, a.res.Error = OutcomeSZTPFailed, err.Error()
		return false
	}
	got, err := sztp.Open(out, sztp.DeviceTrust{Serial: a.cfg.Serial, Key: a.cfg.Key, MASARoots: a.cfg.SZTP.MASARoots,
		IDevIDIssuer: a.cfg.SZTP.Chain[0].AuthorityKeyId, Nonce: a.nonce})
	if err == nil && !got.Signed && !trusted && got.Info.Onboarding != nil {
		err = errors.New("unsigned onboarding information from an untrusted bootstrap server")
	}
	if err != nil {
		a.res.Outcome, a.res.Error = OutcomeUntrusted, err.Error()
		return false
	}
	a.res.Mode, a.res.Encrypted = modeOf(got), got.Encrypted
	if ri := got.Info.Redirect; ri != nil {
		return a.redirect(ctx, ri, got.Signed || trusted, depth)
	}
	r := &reporter{a: a, c: c, uri: uri, on: trusted, verbose: out.ReportingLevel == "verbose"}
	r.report(ctx, "bootstrap-initiated", "", true)
	return a.onboard(ctx, got.Info.Onboarding, r)
}

// redirect follows redirect information; the trust anchors it carries are
// used only when it came signed or from a trusted server.
func (a *agent) redirect(ctx context.Context, ri *sztp.RedirectInformation, trustAnchors bool, depth int) bool {
	if depth >= maxRedirects {
		a.res.Outcome, a.res.Error = OutcomeSZTPFailed, "too many redirects"
		return false
	}
	for _, bs := range ri.BootstrapServers {
		var roots *x509.CertPool
		if trustAnchors && bs.TrustAnchor != nil {
			if certs, err := cms.ParseCertificates(bs.TrustAnchor); err == nil {
				roots = x509.NewCertPool()
				for _, c := range certs {
					roots.AddCert(c)
				}
			}
		}
		port := bs.Port
		if port == 0 {
			port = 443
		}
		host := bs.Address
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
			host = "[" + host + "]"
		}
		if a.bootstrap(ctx, fmt.Sprintf("https://%s:%d", host, port), roots, depth+1) {
			return true
		}
	}
	return false
}

func modeOf(r *sztp.Received) string {
	switch {
	case r.Signed && r.Encrypted:
		return "signed+encrypted"
	case r.Signed:
		return "signed"
	case r.Encrypted:
		return "encrypted"
	}
	return "unsigned"
}

func hostOf(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Hostname()
	}
	return ""
}

// client speaks HTTPS from the leased address with the IDevID. An
// untrusted server's certificate is accepted blindly (RFC 8572 section
// 5.3): only signed data from it will be used.
func (a *agent) client(roots *x509.CertPool) *http.Client {
	chain := make([][]byte, len(a.cfg.SZTP.Chain))
	for i, c := range a.cfg.SZTP.Chain {
		chain[i] = c.Raw
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, InsecureSkipVerify: roots == nil, //nolint:gosec // RFC 8572 5.3
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: a.cfg.Key}}}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: a.local.AsSlice()}, Timeout: a.cfg.SZTP.HTTPTimeout}
	return &http.Client{Timeout: a.cfg.SZTP.HTTPTimeout, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tc}}
}

func (a *agent) format() sztp.Format {
	if a.cfg.SZTP.XML {
		return sztp.XML
	}
	return sztp.JSON
}

// get calls get-bootstrapping-data (RFC 8572 section 7.3).
func (a *agent) get(ctx context.Context, c *http.Client, uri string, trusted bool) (*sztp.GetBootstrappingDataOutput, error) {
	model := a.cfg.Model
	if model == "" {
		model = defaultModel[a.cfg.Vendor]
	}
	in := &sztp.GetBootstrappingDataInput{SignedDataPreferred: !trusted, HWModel: model,
		OSName: a.cfg.SZTP.OSName, OSVersion: a.cfg.SZTP.OSVersion, Nonce: a.nonce}
	body, err := in.Encode(a.format())
	if err != nil {
		return nil, err
	}
	data, ct, err := a.post(ctx, c, uri, "get-bootstrapping-data", body, http.StatusOK)
	if err != nil {
		return nil, err
	}
	a.res.Bytes = len(data)
	f := sztp.JSON
	if mt, _, _ := mime.ParseMediaType(ct); strings.HasSuffix(mt, "xml") {
		f = sztp.XML
	}
	return sztp.DecodeGetBootstrappingDataOutput(data, f)
}

// post sends one RPC and returns the answer's body and Content-Type.
func (a *agent) post(ctx context.Context, c *http.Client, uri, rpc string, body []byte, want int) ([]byte, string, error) {
	u := strings.TrimSuffix(uri, "/") + "/restconf/operations/ietf-sztp-bootstrap-server:" + rpc
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", a.format().MediaType())
	req.Header.Set("Accept", a.format().MediaType())
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rpc, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxConfig))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rpc, err)
	}
	if resp.StatusCode != want {
		return nil, "", fmt.Errorf("%s: %s: %s", rpc, resp.Status, bytes.TrimSpace(data))
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// hostKey is the device's SSH host key, reported at bootstrap-complete.
func hostKey(seed []byte) sztp.SSHHostKey {
	pub := ed25519.NewKeyFromSeed(seed[:ed25519.SeedSize]).Public().(ed25519.PublicKey)
	var b []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return sztp.SSHHostKey{Algorithm: "ssh-ed25519", KeyData: b}
}

// keySeed derives a stable host key seed from the device's serial.
func keySeed(serial string) []byte {
	s := sha256.Sum256([]byte("ssh host key " + serial))
	return s[:]
}

// shortHex is the start of a hash, for results.
func shortHex(b []byte) string { return hex.EncodeToString(b)[:16] }
