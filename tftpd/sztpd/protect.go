package sztpd

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/keystore/regfile"
	"github.com/sealboot/sealboot/keystore/voucher"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// maxVoucher bounds a voucher file.
const maxVoucher = 64 << 10

// errNoVoucher means the device has no voucher file.
var errNoVoucher = errors.New("no voucher")

// protect signs and encrypts the conveyed information as the settings and
// the device's artifacts allow (RFC 8572 section 3): signed by the owner
// when the device has a usable voucher, then encrypted to the device's
// certificate from the keystore. A device that asked for signed data
// (signed-data-preferred) never gets unsigned onboarding information
// (section 7.3).
func (s *Server) protect(st *settings, dev *device, rec *request, in *sztp.GetBootstrappingDataInput, ci *sztp.ConveyedInformation, f sztp.Format) (*sztp.GetBootstrappingDataOutput, *refusal) {
	data, err := ci.Encode(f)
	if err != nil {
		return nil, serverFault("encode conveyed information: " + err.Error())
	}
	sign, vch, ref := s.decideSign(st, dev, in)
	if ref != nil {
		return nil, ref
	}
	if !sign && in.SignedDataPreferred && ci.Onboarding != nil {
		return nil, notFound(OutcomeNoVoucher, "the device asked for signed data (signed-data-preferred) and none can be made: "+noSignWhy(st, vch))
	}
	cert, _, haveCert := s.deps.Certificates.Certificate(dev.serial)
	if _, listed := s.deps.Certificates.Fingerprint(dev.serial); listed && !haveCert {
		// Never sent in the clear because the file could not be read now.
		return nil, serverFault("the keystore lists a certificate for this serial but cannot read it now")
	}
	encrypt := st.cfg.Encrypt == ModeAlways || (st.cfg.Encrypt == ModeAuto && haveCert)
	if encrypt && !haveCert {
		return nil, notFound(fetch.OutcomeNoCertificate, "sztp.encrypt is always and the keystore has no certificate for this serial")
	}
	ct := contentType(f)
	var art []byte
	switch {
	case sign:
		art, err = cms.Sign(data, st.owner.chain[0], st.owner.key, cms.SignOptions{ContentType: ct, Chain: st.owner.chain[1:]})
		if err == nil && encrypt {
			var inner []byte
			if _, inner, err = cms.Inner(art); err == nil {
				opts := st.seal
				opts.ContentType = cms.TypeSignedData
				art, err = cms.Seal(cert, inner, opts)
			}
		}
	case encrypt:
		opts := st.seal
		opts.ContentType = ct
		art, err = cms.Seal(cert, data, opts)
	default:
		art, err = cms.Wrap(ct, data)
	}
	if err != nil {
		return nil, serverFault("protect conveyed information: " + err.Error())
	}
	rec.Encrypted = encrypt
	rec.mode = modeName(sign, encrypt)
	out := &sztp.GetBootstrappingDataOutput{ConveyedInformation: art}
	if ci.Onboarding != nil {
		out.ReportingLevel = st.cfg.ReportingLevel
	}
	if sign {
		out.OwnerCertificate, out.OwnershipVoucher = st.owner.artifact, vch.der
	}
	return out, nil
}

func modeName(sign, encrypt bool) string {
	switch {
	case sign && encrypt:
		return "signed+encrypted"
	case sign:
		return "signed"
	case encrypt:
		return "encrypted"
	}
	return "unsigned"
}

// voucherState is the device's voucher as read for one request.
type voucherState struct {
	der []byte
	err error // errNoVoucher, or why it does not fit
}

func noSignWhy(st *settings, v voucherState) string {
	switch {
	case st.cfg.Sign == ModeNever:
		return "sztp.sign is never"
	case st.owner == nil:
		return "no owner certificate and key (sztp.owner_cert, sztp.owner_key)"
	case v.err != nil:
		return v.err.Error()
	}
	return "no voucher"
}

// decideSign says whether to sign, with the voucher to send.
func (s *Server) decideSign(st *settings, dev *device, in *sztp.GetBootstrappingDataInput) (bool, voucherState, *refusal) {
	if st.cfg.Sign == ModeNever || st.owner == nil || st.cfg.VouchersDir == "" {
		if st.cfg.Sign == ModeAlways {
			return false, voucherState{}, notFound(OutcomeNoVoucher, "sztp.sign is always and there is no owner key or vouchers_dir")
		}
		return false, voucherState{err: errNoVoucher}, nil
	}
	v := s.readVoucher(st, dev, in)
	switch {
	case v.err == nil:
		return true, v, nil
	case errors.Is(v.err, errNoVoucher) && st.cfg.Sign == ModeAuto:
		return false, v, nil
	case errors.Is(v.err, errNoVoucher):
		return false, v, notFound(OutcomeNoVoucher, "sztp.sign is always and "+v.err.Error())
	}
	return false, v, notFound(OutcomeVoucherInvalid, v.err.Error())
}

// readVoucher reads vouchers_dir/<serial>.vcj and checks it as the device
// will (serial, expiry, nonce, the owner certificate against the pinned
// domain certificate), so that a voucher the device would refuse is never
// sent. Its MASA signature is checked for integrity; trusting the MASA is
// the device's part.
func (s *Server) readVoucher(st *settings, dev *device, in *sztp.GetBootstrappingDataInput) voucherState {
	dir, err := regfile.OpenDir(st.cfg.VouchersDir)
	if err != nil {
		return voucherState{err: fmt.Errorf("vouchers_dir: %w", err)}
	}
	defer dir.Close()
	name := dev.serial + ".vcj"
	data, _, err := dir.ReadFile(name, maxVoucher)
	if errors.Is(err, fs.ErrNotExist) {
		return voucherState{err: fmt.Errorf("%w: %s is not in vouchers_dir", errNoVoucher, name)}
	}
	if err != nil {
		return voucherState{err: fmt.Errorf("voucher %s: %w", name, err)}
	}
	v, _, err := voucher.Inspect(data)
	if err != nil {
		return voucherState{err: fmt.Errorf("voucher %s: %w", name, err)}
	}
	checks := voucher.Checks{Serial: dev.serial, Nonce: in.Nonce, Now: s.now(), Owner: st.owner.chain}
	if dev.cert != nil {
		checks.IDevIDIssuer = dev.cert.AuthorityKeyId
	}
	if err := v.Check(checks); err != nil {
		return voucherState{err: fmt.Errorf("voucher %s: %w", name, err)}
	}
	der, err := voucher.DER(data)
	if err != nil {
		return voucherState{err: fmt.Errorf("voucher %s: %w", name, err)}
	}
	return voucherState{der: der}
}
