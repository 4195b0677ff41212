package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// maxImage bounds a boot image the emulator downloads.
const maxImage = 8 << 30

// reporter sends report-progress to a trusted bootstrap server (RFC 8572
// section 7.3: progress is reported only when onboarding information came
// from a trusted server). Minimal reporting sends the initiated, error and
// complete reports of the bootstrap; verbose every step.
type reporter struct {
	a       *agent
	c       *http.Client
	uri     string
	on      bool
	verbose bool
}

func (r *reporter) report(ctx context.Context, typ, msg string, minimal bool, extra ...func(*sztp.ReportProgressInput)) {
	if !r.on || (!minimal && !r.verbose) {
		return
	}
	in := &sztp.ReportProgressInput{ProgressType: typ, Message: msg}
	for _, f := range extra {
		f(in)
	}
	body, err := in.Encode(r.a.format())
	if err == nil {
		_, _, err = r.a.post(ctx, r.c, r.uri, "report-progress", body, http.StatusNoContent)
	}
	if err == nil {
		r.a.res.Progress = append(r.a.res.Progress, typ)
	}
}

// onboard processes onboarding information (RFC 8572 section 5.6): the
// boot image, the pre-configuration script, the configuration, the
// post-configuration script, in that order.
func (a *agent) onboard(ctx context.Context, oi *sztp.OnboardingInformation, r *reporter) bool {
	r.report(ctx, "parsing-complete", "", false)
	if oi.BootImage != nil {
		r.report(ctx, "boot-image-initiated", "", false)
		if err := a.bootImage(ctx, oi.BootImage); err != nil {
			a.res.Outcome, a.res.Error = OutcomeImageMismatch, err.Error()
			r.report(ctx, "boot-image-error", err.Error(), true)
			return false
		}
		r.report(ctx, "boot-image-complete", "", false)
	}
	a.script(ctx, r, "pre", oi.PreConfigurationScript)
	if oi.Configuration != nil {
		r.report(ctx, "config-initiated", "", false)
		a.cfg.check(a.res, oi.Configuration, a.res.Encrypted)
		if !a.res.Installed() {
			r.report(ctx, "config-error", a.res.Error, true)
			return false
		}
		r.report(ctx, "config-complete", "", false)
	}
	a.script(ctx, r, "post", oi.PostConfigurationScript)
	a.res.Outcome = OutcomeInstalled
	anchors, _ := cms.Certificates(a.cfg.SZTP.Chain[len(a.cfg.SZTP.Chain)-1:])
	r.report(ctx, "bootstrap-complete", "", true, func(in *sztp.ReportProgressInput) {
		in.SSHHostKeys = []sztp.SSHHostKey{hostKey(keySeed(a.cfg.Serial))}
		if anchors != nil {
			in.TrustAnchorCerts = [][]byte{anchors}
		}
	})
	return true
}

// script records a script (the emulator runs nothing): its size and hash.
func (a *agent) script(ctx context.Context, r *reporter, which string, s []byte) {
	if s == nil {
		return
	}
	r.report(ctx, which+"-script-initiated", "", false)
	sum := sha256.Sum256(s)
	a.res.Scripts = append(a.res.Scripts, fmt.Sprintf("%s:%d:%s", which, len(s), shortHex(sum[:])))
	r.report(ctx, which+"-script-complete", "", false)
}

// bootImage checks the image the device must run: when it runs it already
// nothing is fetched; otherwise the first URI that gives an image whose
// SHA-256 is the one stated is accepted.
func (a *agent) bootImage(ctx context.Context, bi *sztp.BootImage) error {
	if bi.OSName == a.cfg.SZTP.OSName && bi.OSVersion == a.cfg.SZTP.OSVersion && bi.OSName != "" {
		a.res.Image = "running"
		return nil
	}
	var want []byte
	for _, iv := range bi.ImageVerifications {
		if iv.HashAlgorithm == sztp.HashSHA256 {
			want = iv.HashValue
		}
	}
	if len(bi.DownloadURIs) == 0 {
		return fmt.Errorf("boot image %s %s needed, and no download URI given", bi.OSName, bi.OSVersion)
	}
	var last error
	for _, u := range bi.DownloadURIs {
		sum, n, err := a.download(ctx, u)
		switch {
		case err != nil:
			last = err
		case want != nil && !bytes.Equal(sum, want):
			last = fmt.Errorf("image %s: SHA-256 %x, the bootstrap server stated %x", u, sum, want)
		default:
			a.res.Image = fmt.Sprintf("%s (%d bytes, sha256 %s)", u, n, shortHex(sum))
			return nil
		}
	}
	return last
}

// download fetches an image from the leased address and hashes it as it
// comes (RFC 8572 section 6.3: an https URI may be fetched without
// authenticating the server; the hash is what counts).
func (a *agent) download(ctx context.Context, u string) ([]byte, int64, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: a.local.AsSlice()}, Timeout: a.cfg.SZTP.HTTPTimeout}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} //nolint:gosec // the hash authenticates the image
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("image %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("image %s: %s", u, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(resp.Body, maxImage))
	if err != nil {
		return nil, 0, fmt.Errorf("image %s: %w", u, err)
	}
	return h.Sum(nil), n, nil
}
