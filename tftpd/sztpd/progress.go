package sztpd

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// maxMessage bounds the message of a progress report in its event.
const maxMessage = 256

// maxListed bounds the host keys and certificates a progress event lists
// (a device has a few of each): the event is Info, which the per-packet
// rate limit lets through, and a body under sztp.max_body can report tens
// of thousands of them.
const maxListed = 16

// reportProgress answers report-progress with 204 (RFC 8572 section 7.3)
// and logs the report as an sztp.progress event: the SSH host keys and
// trust anchor certificates the device reports appear as fingerprints.
func (s *Server) reportProgress(w http.ResponseWriter, dev *device, rec *request, body []byte, reqFmt, respFmt sztp.Format) {
	in, err := sztp.DecodeReportProgressInput(body, reqFmt)
	if err != nil {
		s.refuse(w, rec, respFmt, OutcomeBadRequest, "input: "+err.Error(), fromModel(err))
		return
	}
	rec.Serial = dev.serial
	w.WriteHeader(http.StatusNoContent)
	rec.Outcome, rec.Status = OutcomeAccepted, http.StatusNoContent
	s.m.progress.WithLabelValues(in.ProgressType).Inc()
	// The report is the attempt's event; no sztp.request for it.
	rec.logged = true
	level := zap.InfoLevel
	switch in.ProgressType {
	case "parsing-error", "boot-image-error", "pre-script-error", "config-error", "post-script-error", "bootstrap-error":
		level = zap.WarnLevel
	}
	ce := s.log.Check(level, "sztp progress "+in.ProgressType)
	if ce == nil {
		return
	}
	ce.Write(
		zap.String("event", "sztp.progress"), zap.String("serial", dev.serial), zap.String("remote", rec.Remote.String()),
		zap.String("auth", dev.auth), zap.String("progress_type", in.ProgressType),
		zap.String("message", clientField(clip(in.Message, maxMessage))),
		zap.Strings("ssh_host_keys", sshFingerprints(in.SSHHostKeys)),
		zap.Strings("trust_anchor_certs", anchorFingerprints(in.TrustAnchorCerts)),
		zap.Duration("duration", time.Since(rec.Start)),
	)
}

// sshFingerprints are the keys as OpenSSH prints them: the algorithm and
// SHA256: with the unpadded base64 of the SHA-256 of the key blob.
func sshFingerprints(keys []sztp.SSHHostKey) []string {
	out := make([]string, 0, min(len(keys), maxListed+1))
	for i, k := range keys {
		if i == maxListed {
			return append(out, fmt.Sprintf("and %d more", len(keys)-i))
		}
		sum := sha256.Sum256(k.KeyData)
		out = append(out, clientField(k.Algorithm)+" SHA256:"+base64.RawStdEncoding.EncodeToString(sum[:]))
	}
	return out
}

// anchorFingerprints are the SHA-256 of each certificate the reported CMS
// structures carry, hex; "unreadable" for one that is not a SignedData.
// Past maxListed entries the rest are counted (a structure left unparsed
// as one).
func anchorFingerprints(cmsList [][]byte) []string {
	var out []string
	for i, c := range cmsList {
		if len(out) >= maxListed {
			return append(out[:maxListed], fmt.Sprintf("and %d more", len(out)-maxListed+len(cmsList)-i))
		}
		certs, err := cms.ParseCertificates(c)
		if err != nil {
			out = append(out, "unreadable")
			continue
		}
		for _, cert := range certs {
			sum := sha256.Sum256(cert.Raw)
			out = append(out, hex.EncodeToString(sum[:]))
		}
	}
	if len(out) > maxListed {
		return append(out[:maxListed], fmt.Sprintf("and %d more", len(out)-maxListed))
	}
	return out
}
