package sztpd

import (
	"net/netip"

	"github.com/sealboot/sealboot/tftpd/sztp"
)

// Preview is what a device would receive, without a request: for
// `sealboot sztp check`.
type Preview struct {
	Serial         string
	Conveyed       *sztp.ConveyedInformation // nil when refused
	Mode           string                    // unsigned, signed, encrypted, signed+encrypted
	ReportingLevel string
	Bytes          int // of the answer's body
	Outcome        string
	Reason         string
	Status         int
}

// Preview builds the answer a device of serial would get (its certificate
// chaining to vendor's trust anchor, asking with hwModel), as the running
// settings make it, and returns it decoded. local is the address the
// device would have reached the server on (for image URIs).
func (s *Server) Preview(serial, vendor, hwModel string, signedDataPreferred bool, f sztp.Format, local netip.Addr) *Preview {
	st := s.set.Load()
	rec := newRequest(netip.AddrPort{}, rpcGet)
	rec.Serial = serial
	dev := &device{serial: serial, vendor: vendor, auth: "preview"}
	in := &sztp.GetBootstrappingDataInput{HWModel: hwModel, SignedDataPreferred: signedDataPreferred}
	p := &Preview{Serial: serial, Status: 200, Outcome: "served"}
	ci, ref := s.conveyed(st, dev, rec, in, local)
	if ref == nil {
		var out *sztp.GetBootstrappingDataOutput
		if out, ref = s.protect(st, dev, rec, in, ci, f); ref == nil {
			data, _ := out.Encode(f)
			p.Conveyed, p.Mode, p.ReportingLevel, p.Bytes = ci, rec.mode, out.ReportingLevel, len(data)
			return p
		}
	}
	p.Outcome, p.Reason, p.Status = ref.outcome, ref.reason, ref.err.status
	return p
}
