package sztp

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func fullRedirect() *ConveyedInformation {
	return &ConveyedInformation{Redirect: &RedirectInformation{BootstrapServers: []BootstrapServer{
		{Address: "sztp1.example.com", Port: 8443, TrustAnchor: []byte{0x30, 0x03, 0x02, 0x01, 0x01}},
		{Address: "2001:db8::1"},
	}}}
}

func fullOnboarding() *ConveyedInformation {
	return &ConveyedInformation{Onboarding: &OnboardingInformation{
		BootImage: &BootImage{
			OSName: "VendorOS", OSVersion: "17.3R2.1",
			DownloadURIs:       []string{"http://192.0.2.1/images/vendoros-17.3R2.1.img", "https://example.com/vendoros.img"},
			ImageVerifications: []ImageVerification{{HashAlgorithm: HashSHA256, HashValue: bytes.Repeat([]byte{0xab}, 32)}},
		},
		ConfigurationHandling:   "merge",
		PreConfigurationScript:  []byte("#!/bin/sh\necho pre\n"),
		Configuration:           []byte("<config>hostname r1</config>\n"),
		PostConfigurationScript: []byte("#!/bin/sh\necho post\n"),
	}}
}

func fullGetInput() *GetBootstrappingDataInput {
	return &GetBootstrappingDataInput{SignedDataPreferred: true, HWModel: "model-x", OSName: "vendor-os", OSVersion: "17.3R2.1", Nonce: bytes.Repeat([]byte{1}, 16)}
}

func fullGetOutput() *GetBootstrappingDataOutput {
	return &GetBootstrappingDataOutput{ReportingLevel: "verbose", ConveyedInformation: []byte{1, 2, 3}, OwnerCertificate: []byte{4, 5}, OwnershipVoucher: []byte{6}}
}

func fullReport() *ReportProgressInput {
	return &ReportProgressInput{ProgressType: "bootstrap-complete", Message: "done <&>",
		SSHHostKeys:      []SSHHostKey{{Algorithm: "ssh-ed25519", KeyData: []byte("key-data")}, {Algorithm: "ecdsa-sha2-nistp256", KeyData: []byte("k2")}},
		TrustAnchorCerts: [][]byte{{0x30, 0x00}, {0x30, 0x01, 0x00}}}
}

// Every type survives a round trip in both encodings unchanged.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{JSON, XML} {
		for name, v := range map[string]any{
			"redirect": fullRedirect(), "onboarding": fullOnboarding(), "get input": fullGetInput(),
			"get output": fullGetOutput(), "report": fullReport(),
			"minimal onboarding": &ConveyedInformation{Onboarding: &OnboardingInformation{}},
			"empty get input":    &GetBootstrappingDataInput{},
		} {
			t.Run(f.String()+"/"+name, func(t *testing.T) {
				t.Parallel()
				var got any
				var err error
				switch v := v.(type) {
				case *ConveyedInformation:
					var b []byte
					if b, err = v.Encode(f); err == nil {
						got, err = DecodeConveyedInformation(b, f)
					}
				case *GetBootstrappingDataInput:
					var b []byte
					if b, err = v.Encode(f); err == nil {
						got, err = DecodeGetBootstrappingDataInput(b, f)
					}
				case *GetBootstrappingDataOutput:
					var b []byte
					if b, err = v.Encode(f); err == nil {
						got, err = DecodeGetBootstrappingDataOutput(b, f)
					}
				case *ReportProgressInput:
					var b []byte
					if b, err = v.Encode(f); err == nil {
						got, err = DecodeReportProgressInput(b, f)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
				}
			})
		}
	}
}

// The RFC's own examples (sections 6.2 and 7.2) decode.
func TestRFCExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Format
		doc  string
		dec  func([]byte, Format) (any, error)
	}{
		{"redirect xml", XML, `<redirect-information xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info">
  <bootstrap-server>
    <address>sztp1.example.com</address>
    <port>8443</port>
    <trust-anchor>MIIB</trust-anchor>
  </bootstrap-server>
  <bootstrap-server>
    <address>sztp2.example.com</address>
    <port>8443</port>
    <trust-anchor>MIIB</trust-anchor>
  </bootstrap-server>
</redirect-information>`, decCI},
		{"redirect json", JSON, `{
  "ietf-sztp-conveyed-info:redirect-information" : {
    "bootstrap-server" : [
      {
        "address" : "sztp1.example.com",
        "port" : 8443,
        "trust-anchor" : "MIIB"
      }
    ]
  }
}`, decCI},
		{"onboarding xml", XML, `<onboarding-information xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info">
  <boot-image>
    <os-name>VendorOS</os-name>
    <os-version>17.2R1.6</os-version>
    <download-uri>https://example.com/path/to/image/file</download-uri>
    <image-verification>
      <hash-algorithm>sztp-info:sha-256</hash-algorithm>
      <hash-value>ba:ec:cf:a5:67:82:b4:10:77:c6:67:a6:22:ab:7d:50:04:a7:8b:8f:0e:db:02:8b:f4:75:55:fb:c1:13:b2:33</hash-value>
    </image-verification>
  </boot-image>
  <configuration-handling>merge</configuration-handling>
  <pre-configuration-script>base64encodedvalue==</pre-configuration-script>
  <configuration>base64encodedvalue==</configuration>
  <post-configuration-script>base64encodedvalue==</post-configuration-script>
</onboarding-information>`, decCI},
		{"get input xml", XML, `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">
  <signed-data-preferred/>
  <hw-model>model-x</hw-model>
  <os-name>vendor-os</os-name>
  <os-version>17.3R2.1</os-version>
  <nonce>extralongbase64encodedvalue=</nonce>
</input>`, decIn},
		{"get output xml", XML, `<output xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">
  <reporting-level>verbose</reporting-level>
  <conveyed-information>base64encodedvalue==</conveyed-information>
  <owner-certificate>base64encodedvalue==</owner-certificate>
  <ownership-voucher>base64encodedvalue==</ownership-voucher>
</output>`, decOut},
		{"report xml", XML, `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">
  <progress-type>bootstrap-complete</progress-type>
  <message>example message</message>
  <ssh-host-keys>
    <ssh-host-key>
      <algorithm>ssh-rsa</algorithm>
      <key-data>base64encodedvalue==</key-data>
    </ssh-host-key>
    <ssh-host-key>
      <algorithm>ssh-dss</algorithm>
      <key-data>base64encodedvalue==</key-data>
    </ssh-host-key>
  </ssh-host-keys>
  <trust-anchor-certs>
    <trust-anchor-cert>base64encodedvalue==</trust-anchor-cert>
  </trust-anchor-certs>
</input>`, decReport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.dec([]byte(tt.doc), tt.f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func decCI(b []byte, f Format) (any, error)  { return DecodeConveyedInformation(b, f) }
func decIn(b []byte, f Format) (any, error)  { return DecodeGetBootstrappingDataInput(b, f) }
func decOut(b []byte, f Format) (any, error) { return DecodeGetBootstrappingDataOutput(b, f) }
func decReport(b []byte, f Format) (any, error) {
	return DecodeReportProgressInput(b, f)
}

// Documents that break the schema are refused with the RFC 8040 tag and
// the path of the node.
func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	const in = `{"ietf-sztp-bootstrap-server:input":`
	tests := []struct {
		name, doc string
		f         Format
		dec       func([]byte, Format) (any, error)
		tag, path string
	}{
		{"not json", `{"ietf`, JSON, decIn, TagMalformed, ""},
		{"trailing data", in + `{}} {}`, JSON, decIn, TagMalformed, ""},
		{"wrong module", `{"ietf-restconf:input":{}}`, JSON, decIn, TagUnknownElement, "/ietf-restconf:input"},
		{"unqualified top", `{"input":{}}`, JSON, decIn, TagUnknownElement, "/input"},
		{"unknown member", in + `{"colour":"red"}}`, JSON, decIn, TagUnknownElement, "/ietf-sztp-bootstrap-server:input/colour"},
		{"duplicate member", in + `{"hw-model":"a","hw-model":"b"}}`, JSON, decIn, TagMalformed, "/ietf-sztp-bootstrap-server:input/hw-model"},
		{"number for a string", in + `{"hw-model":12}}`, JSON, decIn, TagInvalidValue, "/ietf-sztp-bootstrap-server:input/hw-model"},
		{"true for empty", in + `{"signed-data-preferred":true}}`, JSON, decIn, TagInvalidValue, "/ietf-sztp-bootstrap-server:input/signed-data-preferred"},
		{"bad base64", in + `{"nonce":"!!"}}`, JSON, decIn, TagInvalidValue, "/ietf-sztp-bootstrap-server:input/nonce"},
		{"short nonce", in + `{"nonce":"AAAA"}}`, JSON, decIn, TagInvalidValue, "/input/nonce"},
		{"object for input", in + `[]}`, JSON, decIn, TagInvalidValue, "/ietf-sztp-bootstrap-server:input"},
		{"missing progress-type", in + `{"message":"x"}}`, JSON, decReport, TagMissingElement, "/ietf-sztp-bootstrap-server:input/progress-type"},
		{"unknown progress-type", in + `{"progress-type":"done"}}`, JSON, decReport, TagInvalidValue, "/ietf-sztp-bootstrap-server:input/progress-type"},
		{"host keys without complete", in + `{"progress-type":"informational","ssh-host-keys":{"ssh-host-key":[{"algorithm":"a","key-data":"AA=="}]}}}`, JSON, decReport, TagInvalidValue, "/input/progress-type"},
		{"port out of range", `{"ietf-sztp-conveyed-info:redirect-information":{"bootstrap-server":[{"address":"a.example","port":70000}]}}`, JSON, decCI, TagInvalidValue, "/ietf-sztp-conveyed-info:redirect-information/bootstrap-server/port"},
		{"port as string", `{"ietf-sztp-conveyed-info:redirect-information":{"bootstrap-server":[{"address":"a.example","port":"443"}]}}`, JSON, decCI, TagInvalidValue, "/ietf-sztp-conveyed-info:redirect-information/bootstrap-server/port"},
		{"duplicate list key", `{"ietf-sztp-conveyed-info:redirect-information":{"bootstrap-server":[{"address":"a.example"},{"address":"a.example"}]}}`, JSON, decCI, TagInvalidValue, "/ietf-sztp-conveyed-info:redirect-information/bootstrap-server"},
		{"no bootstrap server", `{"ietf-sztp-conveyed-info:redirect-information":{}}`, JSON, decCI, TagMissingElement, "/redirect-information/bootstrap-server"},
		{"configuration without handling", `{"ietf-sztp-conveyed-info:onboarding-information":{"configuration":"AA=="}}`, JSON, decCI, TagMissingElement, "/onboarding-information/configuration-handling"},
		{"bad hex-string", `{"ietf-sztp-conveyed-info:onboarding-information":{"boot-image":{"download-uri":["http://a/b"],"image-verification":[{"hash-algorithm":"sha-256","hash-value":"abc"}]}}}`, JSON, decCI, TagInvalidValue, "/ietf-sztp-conveyed-info:onboarding-information/boot-image/image-verification/hash-value"},
		{"unknown hash", `{"ietf-sztp-conveyed-info:onboarding-information":{"boot-image":{"download-uri":["http://a/b"],"image-verification":[{"hash-algorithm":"md5","hash-value":"ab"}]}}}`, JSON, decCI, TagInvalidValue, "/ietf-sztp-conveyed-info:onboarding-information/boot-image/image-verification/hash-algorithm"},
		{"xml not well-formed", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><hw-model>a</input>`, XML, decIn, TagMalformed, "/input/hw-model"},
		{"xml wrong namespace", `<input xmlns="urn:example"/>`, XML, decIn, TagUnknownElement, "/input"},
		{"xml unknown element", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><colour/></input>`, XML, decIn, TagUnknownElement, "/input/colour"},
		{"xml child in another namespace", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><x:hw-model xmlns:x="urn:example">a</x:hw-model></input>`, XML, decIn, TagUnknownElement, "/input/hw-model"},
		{"xml duplicate leaf", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><hw-model>a</hw-model><hw-model>b</hw-model></input>`, XML, decIn, TagMalformed, "/input/hw-model"},
		{"xml content in empty", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><signed-data-preferred>yes</signed-data-preferred></input>`, XML, decIn, TagInvalidValue, "/input/signed-data-preferred"},
		{"xml element in leaf", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"><hw-model><b/></hw-model></input>`, XML, decIn, TagInvalidValue, "/input/hw-model"},
		{"xml two documents", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"/><input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"/>`, XML, decIn, TagMalformed, ""},
		{"xml text in container", `<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">hello</input>`, XML, decIn, TagMalformed, "/input"},
		{"xml missing conveyed-information", `<output xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"/>`, XML, decOut, TagMissingElement, "/output/conveyed-information"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.dec([]byte(tt.doc), tt.f)
			e, ok := err.(*Error)
			if !ok || e.Tag != tt.tag || e.Path != tt.path {
				t.Fatalf("got %v, want %s at %q", err, tt.tag, tt.path)
			}
		})
	}
}

// An empty body is an empty get-bootstrapping-data input (the input is
// optional, RFC 8040 section 3.6.1).
func TestEmptyInput(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "  \n"} {
		for _, f := range []Format{JSON, XML} {
			in, err := DecodeGetBootstrappingDataInput([]byte(body), f)
			if err != nil || !reflect.DeepEqual(in, &GetBootstrappingDataInput{}) {
				t.Fatalf("%q %s: %v %+v", body, f, err, in)
			}
		}
	}
}

// Encode refuses values that would break the schema.
func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		enc  func() error
		want string
	}{
		{"both kinds", func() error {
			_, err := (&ConveyedInformation{Redirect: fullRedirect().Redirect, Onboarding: fullOnboarding().Onboarding}).Encode(JSON)
			return err
		}, "exactly one"},
		{"bad address", func() error {
			_, err := (&ConveyedInformation{Redirect: &RedirectInformation{BootstrapServers: []BootstrapServer{{Address: "a b"}}}}).Encode(JSON)
			return err
		}, "address"},
		{"bad uri", func() error {
			c := fullOnboarding()
			c.Onboarding.BootImage.DownloadURIs = []string{"images/x.img"}
			_, err := c.Encode(XML)
			return err
		}, "download-uri"},
		{"unknown progress type", func() error { _, err := (&ReportProgressInput{ProgressType: "done"}).Encode(JSON); return err }, "progress-type"},
		{"voucher without owner certificate", func() error {
			_, err := (&GetBootstrappingDataOutput{ConveyedInformation: []byte{1}, OwnershipVoucher: []byte{1}}).Encode(JSON)
			return err
		}, "come together"},
	}
	for _, tt := range tests {
		if err := tt.enc(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
}
