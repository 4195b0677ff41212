package sztp

import "fmt"

// GetBootstrappingDataInput is the input of the get-bootstrapping-data RPC
// (RFC 8572 section 7.3). Every leaf is optional, and so is the whole
// input: an empty body is an empty input.
type GetBootstrappingDataInput struct {
	SignedDataPreferred bool
	HWModel             string
	OSName              string
	OSVersion           string
	Nonce               []byte // 16 to 32 bytes when present
}

// GetBootstrappingDataOutput is the RPC's output.
type GetBootstrappingDataOutput struct {
	ReportingLevel      string // "minimal", "verbose", or "" (absent: minimal)
	ConveyedInformation []byte // a CMS ContentInfo, DER (mandatory)
	OwnerCertificate    []byte // a CMS SignedData, DER; with OwnershipVoucher
	OwnershipVoucher    []byte // a CMS SignedData, DER; with OwnerCertificate
}

// ReportProgressInput is the input of the report-progress RPC.
type ReportProgressInput struct {
	ProgressType     string // one of ProgressTypes()
	Message          string
	SSHHostKeys      []SSHHostKey
	TrustAnchorCerts [][]byte // CMS SignedData structures, DER
}

// SSHHostKey is one host key a device reports (RFC 4253 section 6.6).
type SSHHostKey struct {
	Algorithm string
	KeyData   []byte
}

// Encode writes the input in format f, as a device sends it.
func (in *GetBootstrappingDataInput) Encode(f Format) ([]byte, error) {
	obj := object{}
	if in.SignedDataPreferred {
		obj["signed-data-preferred"] = true
	}
	setString(obj, "hw-model", in.HWModel)
	setString(obj, "os-name", in.OSName)
	setString(obj, "os-version", in.OSVersion)
	setBytes(obj, "nonce", in.Nonce)
	if err := checkNonce(in.Nonce); err != nil {
		return nil, err
	}
	return encodeRPC(f, getInputSchema(), obj)
}

// DecodeGetBootstrappingDataInput reads the RPC's input. An empty body is
// an empty input (RFC 8040 section 3.6.1: the input is optional).
func DecodeGetBootstrappingDataInput(data []byte, f Format) (*GetBootstrappingDataInput, error) {
	if len(trimSpace(data)) == 0 {
		return &GetBootstrappingDataInput{}, nil
	}
	obj, err := decodeRPC(data, f, getInputSchema())
	if err != nil {
		return nil, err
	}
	in := &GetBootstrappingDataInput{HWModel: str(obj["hw-model"]), OSName: str(obj["os-name"]), OSVersion: str(obj["os-version"])}
	in.SignedDataPreferred, _ = obj["signed-data-preferred"].(bool)
	in.Nonce, _ = obj["nonce"].([]byte)
	if err := checkNonce(in.Nonce); err != nil {
		return nil, err
	}
	return in, nil
}

// checkNonce applies the nonce's length "16..32".
func checkNonce(n []byte) *Error {
	if n != nil && (len(n) < 16 || len(n) > 32) {
		return errAt(TagInvalidValue, "/input/nonce", "a nonce is 16 to 32 bytes")
	}
	return nil
}

// Encode writes the output in format f, as the bootstrap server answers.
func (out *GetBootstrappingDataOutput) Encode(f Format) ([]byte, error) {
	if out.ConveyedInformation == nil {
		return nil, fmt.Errorf("conveyed-information is mandatory")
	}
	if (out.OwnerCertificate == nil) != (out.OwnershipVoucher == nil) {
		return nil, fmt.Errorf("owner-certificate and ownership-voucher come together")
	}
	obj := object{"conveyed-information": out.ConveyedInformation}
	setString(obj, "reporting-level", out.ReportingLevel)
	setBytes(obj, "owner-certificate", out.OwnerCertificate)
	setBytes(obj, "ownership-voucher", out.OwnershipVoucher)
	return encodeRPC(f, getOutputSchema(), obj)
}

// DecodeGetBootstrappingDataOutput reads the RPC's output, as a device does.
func DecodeGetBootstrappingDataOutput(data []byte, f Format) (*GetBootstrappingDataOutput, error) {
	obj, err := decodeRPC(data, f, getOutputSchema())
	if err != nil {
		return nil, err
	}
	out := &GetBootstrappingDataOutput{ReportingLevel: str(obj["reporting-level"])}
	out.ConveyedInformation, _ = obj["conveyed-information"].([]byte)
	out.OwnerCertificate, _ = obj["owner-certificate"].([]byte)
	out.OwnershipVoucher, _ = obj["ownership-voucher"].([]byte)
	if (out.OwnerCertificate == nil) != (out.OwnershipVoucher == nil) {
		return nil, errAt(TagMissingElement, "/output/ownership-voucher", "owner-certificate and ownership-voucher come together")
	}
	return out, nil
}

// Encode writes the report in format f, as a device sends it.
func (in *ReportProgressInput) Encode(f Format) ([]byte, error) {
	obj := object{"progress-type": in.ProgressType}
	setString(obj, "message", in.Message)
	if len(in.SSHHostKeys) > 0 {
		keys := make([]object, 0, len(in.SSHHostKeys))
		for _, k := range in.SSHHostKeys {
			keys = append(keys, object{"algorithm": k.Algorithm, "key-data": k.KeyData})
		}
		obj["ssh-host-keys"] = object{"ssh-host-key": keys}
	}
	if len(in.TrustAnchorCerts) > 0 {
		certs := make([]any, len(in.TrustAnchorCerts))
		for i, c := range in.TrustAnchorCerts {
			certs[i] = c
		}
		obj["trust-anchor-certs"] = object{"trust-anchor-cert": certs}
	}
	return encodeRPC(f, progressInputSchema(), obj)
}

// DecodeReportProgressInput reads the report-progress input.
func DecodeReportProgressInput(data []byte, f Format) (*ReportProgressInput, error) {
	obj, err := decodeRPC(data, f, progressInputSchema())
	if err != nil {
		return nil, err
	}
	in := &ReportProgressInput{ProgressType: str(obj["progress-type"]), Message: str(obj["message"])}
	if keys, ok := obj["ssh-host-keys"].(object); ok {
		entries, _ := keys["ssh-host-key"].([]object)
		for _, e := range entries {
			kd, _ := e["key-data"].([]byte)
			in.SSHHostKeys = append(in.SSHHostKeys, SSHHostKey{Algorithm: str(e["algorithm"]), KeyData: kd})
		}
	}
	if tas, ok := obj["trust-anchor-certs"].(object); ok {
		certs, _ := tas["trust-anchor-cert"].([]any)
		for _, c := range certs {
			b, _ := c.([]byte)
			in.TrustAnchorCerts = append(in.TrustAnchorCerts, b)
		}
	}
	// RFC 8572 section 7.3: host keys and trust anchors only come with
	// bootstrap-complete ("when" statements).
	if in.ProgressType != "bootstrap-complete" && (obj["ssh-host-keys"] != nil || obj["trust-anchor-certs"] != nil) {
		return nil, errAt(TagInvalidValue, "/input/progress-type", "ssh-host-keys and trust-anchor-certs are only sent with bootstrap-complete")
	}
	return in, nil
}

// encodeRPC writes an RPC's input or output (RFC 8040 section 3.6.1).
func encodeRPC(f Format, top *node, obj object) ([]byte, error) {
	if err := validate(top, obj, "/"+top.name); err != nil {
		return nil, err
	}
	if f == XML {
		return encodeXML(NamespaceBootstrap, top, obj), nil
	}
	return encodeJSON(ModuleBootstrapServer, top, obj), nil
}

func decodeRPC(data []byte, f Format, top *node) (object, error) {
	var obj object
	var err error
	if f == XML {
		_, obj, err = decodeXML(data, NamespaceBootstrap, top)
	} else {
		_, obj, err = decodeJSON(data, ModuleBootstrapServer, top)
	}
	return obj, err
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
