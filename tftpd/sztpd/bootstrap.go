package sztpd

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// refusal is a get-bootstrapping-data answered with an error.
type refusal struct {
	outcome, reason string
	err             restconfError
}

// Refusals on the wire (RFC 8040 section 7): the device is known but has
// nothing here is 404 invalid-value; a fault of ours is 500
// operation-failed; an image still being hashed is 503 resource-denied
// with Retry-After, to ask again (the table's 409 for resource-denied
// carries no retry).
func notFound(outcome, reason string) *refusal {
	return &refusal{outcome, reason, restconfError{status: http.StatusNotFound, typ: typeApplication, tag: tagInvalidValue, message: "no bootstrapping data for this device"}}
}

func serverFault(reason string) *refusal {
	return &refusal{fetch.OutcomeError, reason, restconfError{status: http.StatusInternalServerError, typ: typeApplication, tag: tagFailed, message: "server error"}}
}

func notReady(reason string) *refusal {
	return &refusal{fetch.OutcomeBusy, reason, restconfError{status: http.StatusServiceUnavailable, typ: typeApplication, tag: tagResourceDenied, message: "try again later"}}
}

// getBootstrappingData answers the RPC (RFC 8572 section 7.3).
func (s *Server) getBootstrappingData(w http.ResponseWriter, st *settings, dev *device, rec *request, body []byte, reqFmt, respFmt sztp.Format, local netip.Addr) {
	in, err := sztp.DecodeGetBootstrappingDataInput(body, reqFmt)
	if err != nil {
		s.refuse(w, rec, respFmt, OutcomeBadRequest, "input: "+err.Error(), fromModel(err))
		return
	}
	rec.hwModel, rec.osName, rec.osVer = clientField(in.HWModel), clientField(in.OSName), clientField(in.OSVersion)
	rec.nonce, rec.signedOK = in.Nonce != nil, in.SignedDataPreferred
	ci, ref := s.conveyed(st, dev, rec, in, local)
	if ref == nil {
		var out *sztp.GetBootstrappingDataOutput
		if out, ref = s.protect(st, dev, rec, in, ci, respFmt); ref == nil {
			data, err := out.Encode(respFmt)
			if err != nil {
				ref = serverFault("encode output: " + err.Error())
			} else {
				rec.Outcome, rec.Reason, rec.Status = fetch.OutcomeServed, "", http.StatusOK
				s.m.served.WithLabelValues(rec.conveyed, rec.mode).Inc()
				w.Header().Set("Content-Type", respFmt.MediaType())
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusOK)
				n, _ := w.Write(data)
				rec.Bytes = int64(n)
				return
			}
		}
	}
	if ref.err.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	s.refuse(w, rec, respFmt, ref.outcome, ref.reason, ref.err)
}

// clientField makes a string the client sent fit for a log field.
func clientField(v string) string { return fetch.ClientText(clip(v, 64)) }

// conveyed builds the conveyed information: the redirect when one is
// configured, else the device's onboarding information from its boot
// profile and its config.
func (s *Server) conveyed(st *settings, dev *device, rec *request, in *sztp.GetBootstrappingDataInput, local netip.Addr) (*sztp.ConveyedInformation, *refusal) {
	if st.redirect != nil {
		rec.conveyed = "redirect"
		return st.redirect, nil
	}
	rec.conveyed = "onboarding"
	rec.Serial = dev.serial
	p := st.match(dev.vendor, in.HWModel, dev.serial)
	config, err := s.deps.Configs.Plaintext(rec.Attempt)
	// A device with no config may still have a boot profile to follow.
	if err != nil && (p == nil || !errors.Is(err, fs.ErrNotExist)) {
		if p == nil {
			rec.Reason += "; and no boot profile matches"
		}
		return nil, notFound(rec.Outcome, rec.Reason)
	}
	rec.Outcome, rec.Reason = "", ""
	oi := &sztp.OnboardingInformation{}
	if config != nil {
		oi.Configuration, oi.ConfigurationHandling = config, "merge"
	}
	if p != nil {
		if config != nil {
			oi.ConfigurationHandling = p.ConfigurationHandling
		}
		oi.PreConfigurationScript, oi.PostConfigurationScript = p.pre, p.post
		img, ref := s.bootImage(st, p, local)
		if ref != nil {
			return nil, ref
		}
		oi.BootImage = img
	}
	if oi.Configuration == nil && oi.BootImage == nil && oi.PreConfigurationScript == nil && oi.PostConfigurationScript == nil {
		return nil, notFound(fetch.OutcomeNotFound, "no config, and boot profile "+p.Name+" gives no image or script")
	}
	return &sztp.ConveyedInformation{Onboarding: oi}, nil
}

// bootImage is the profile's image: its name and version, where our HTTP
// server serves it, and its SHA-256 from the images directory.
func (s *Server) bootImage(st *settings, p *profile, local netip.Addr) (*sztp.BootImage, *refusal) {
	if p.Image == "" && p.OSName == "" && p.OSVersion == "" {
		return nil, nil
	}
	img := &sztp.BootImage{OSName: p.OSName, OSVersion: p.OSVersion}
	if p.Image == "" {
		return img, nil
	}
	if s.deps.Images == nil {
		return nil, serverFault("profile " + p.Name + " names an image, and there is no images directory (http.listen)")
	}
	size, sum, ready := s.deps.Images.Lookup(p.Image)
	switch {
	case !ready && size == 0:
		return nil, serverFault("profile " + p.Name + ": image " + p.Image + " is not in images_dir")
	case !ready:
		return nil, notReady("image " + p.Image + " is being hashed")
	}
	uri, err := downloadURI(st, local, p.Image)
	if err != nil {
		return nil, serverFault(err.Error())
	}
	hash, err := parseHex(sum)
	if err != nil {
		return nil, serverFault("image " + p.Image + ": " + err.Error())
	}
	img.DownloadURIs = []string{uri}
	img.ImageVerifications = []sztp.ImageVerification{{HashAlgorithm: sztp.HashSHA256, HashValue: hash}}
	return img, nil
}

// downloadURI is where the built-in HTTP server serves an image, at the
// address the device reached this server on (or under sztp.image_url).
func downloadURI(st *settings, local netip.Addr, image string) (string, error) {
	var segs []string
	for _, seg := range strings.Split(image, "/") {
		segs = append(segs, url.PathEscape(seg))
	}
	name := strings.Join(segs, "/")
	if st.cfg.ImageURL != "" {
		return strings.TrimSuffix(st.cfg.ImageURL, "/") + "/" + name, nil
	}
	if !local.IsValid() {
		return "", errors.New("the address the device reached us on is unknown; set sztp.image_url")
	}
	host := local.String()
	if local.Is6() {
		host = "[" + local.WithZone("").String() + "]"
	}
	sc := st.cfg.ImageScheme
	if p := st.cfg.ImagePort; p != 0 && !(sc == "http" && p == 80) && !(sc == "https" && p == 443) {
		host += ":" + strconv.Itoa(p)
	}
	return sc + "://" + host + "/images/" + name, nil
}

// parseHex reads the images directory's hex SHA-256.
func parseHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("the images directory gave no SHA-256")
	}
	return b, nil
}

// contentType is the conveyed information's CMS content type (RFC 8572
// section 3.1) for the format it is encoded in.
func contentType(f sztp.Format) cms.ContentType {
	if f == sztp.XML {
		return cms.TypeSZTPConveyedInfoXML
	}
	return cms.TypeSZTPConveyedInfoJSON
}
