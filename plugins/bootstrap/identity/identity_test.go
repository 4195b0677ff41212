package identity

import (
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/ztpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

type inv map[string]string

func (i inv) SerialForMAC(m net.HardwareAddr) (string, bool) { s, ok := i[m.String()]; return s, ok }

var testMAC = net.HardwareAddr{0x2c, 0x6b, 0xf5, 0x01, 0x02, 0x03}

// opt is a raw DHCPv4 option: code and value bytes as a device sends them.
type opt struct {
	code byte
	hex  string // value bytes in hex, or text when prefixed with "t:"
}

func (o opt) value(t *testing.T) []byte {
	if s, ok := strings.CutPrefix(o.hex, "t:"); ok {
		return []byte(s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(o.hex, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vivc9 is option 124's value for enterprise 9 (Cisco) as hex: the
// enterprise number, the data length, the data (RFC 3925 section 3).
func vivc9(data string) string {
	return "00000009" + hex.EncodeToString([]byte{byte(len(data))}) + hex.EncodeToString([]byte(data))
}

// packet4 builds a DISCOVER carrying opts byte for byte and parses it back
// from the wire form, as the server would.
func packet4(t *testing.T, opts ...opt) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(testMAC)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(o.code), o.value(t)))
	}
	wire, err := dhcpv4.FromBytes(d.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func TestFromDHCPv4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		opts                          []opt
		inv                           inv
		serial, vendor, model, source string
	}{
		{"juniper mx", []opt{{60, "t:Juniper-mx204-JN1234567AB"}}, nil, "JN1234567AB", "juniper", "mx204", "option 60"},
		{"juniper model with dash", []opt{{60, "t:Juniper-qfx10002-36q-DN817"}}, nil, "DN817", "juniper", "qfx10002-36q", "option 60"},
		{"juniper serial in option 12", []opt{{60, "t:Juniper-qfx10008"}, {12, "t:DE123"}}, nil, "DE123", "juniper", "qfx10008", "option 60"},
		{"juniper colon form", []opt{{60, "t:Juniper:ex4300-48t:PE3714100218"}}, nil, "PE3714100218", "juniper", "ex4300-48t", "option 60"},
		// Juniper platforms end in suffixes (48t, 4g, c, 24mp) that are
		// not serials: the model is the whole platform.
		{"juniper ex2200 platform only", []opt{{60, "t:Juniper-ex2200-48t-4g"}}, nil, "", "juniper", "ex2200-48t-4g", ""},
		{"juniper ex2200 platform and option 12", []opt{{60, "t:Juniper-ex2200-48t-4g"}, {12, "t:CW0210260050"}}, nil, "CW0210260050", "juniper", "ex2200-48t-4g", "option 60"},
		{"juniper ex2200 platform and serial", []opt{{60, "t:Juniper-ex2200-48t-4g-CW0210260050"}}, nil, "CW0210260050", "juniper", "ex2200-48t-4g", "option 60"},
		{"juniper ex2300-c platform only", []opt{{60, "t:Juniper-ex2300-c-12p"}}, nil, "", "juniper", "ex2300-c-12p", ""},
		{"juniper qfx5100 with serial", []opt{{60, "t:Juniper-qfx5100-48s-6q-TA3714AF0123"}}, nil, "TA3714AF0123", "juniper", "qfx5100-48s-6q", "option 60"},
		{"juniper ex4300 mp platform only", []opt{{60, "t:Juniper-ex4300-48mp"}}, nil, "", "juniper", "ex4300-48mp", ""},
		{"juniper ptx10001 with serial", []opt{{60, "t:Juniper-ptx10001-36mr-DN5421AA0007"}}, nil, "DN5421AA0007", "juniper", "ptx10001-36mr", "option 60"},
		{"juniper srx345 dual-ac platform only", []opt{{60, "t:Juniper-srx345-dual-ac"}}, nil, "", "juniper", "srx345-dual-ac", ""},
		{"juniper platform only, serial in option 61", []opt{{60, "t:Juniper-ex3400-48p"}, {61, "t:NX3716AF0456"}}, nil, "NX3716AF0456", "juniper", "ex3400-48p", "option 61"},
		{"juniper digits-only serial", []opt{{60, "t:Juniper-mx480-102938475610"}}, nil, "102938475610", "juniper", "mx480", "option 60"},
		{"arista", []opt{{60, "t:Arista;DCS-7050SX3-48YC8;11.01;JPE20123456"}}, nil, "JPE20123456", "arista", "DCS-7050SX3-48YC8", "option 60"},
		{"dell os9", []opt{{60, "t:S4048-ON SN=CN0R1FP5779006A1014 OS9"}}, nil, "CN0R1FP5779006A1014", "dell", "", "option 60"},
		{"zpe", []opt{{60, "t:ZPESystems:NSC:002251623"}}, nil, "002251623", "zpe", "NSC", "option 60"},
		{"ciena serial in option 61", []opt{{60, "t:1271-23422Z11-123"}, {61, "t:M123456"}}, nil, "M123456", "ciena", "23422Z11-123", "option 60"},
		{"cisco firepower", []opt{{60, "t:FPR4100"}, {61, "t:JAD2143012Q"}}, nil, "JAD2143012Q", "cisco", "FPR4100", "option 60"},
		// NX-OS POAP: option 61 = 0x00 + serial.
		{"cisco nx-os poap", []opt{{61, "00 46 44 4f 32 31 33 34 31 41 42 43"}}, nil, "FDO21341ABC", "cisco", "", "option 61"},
		// IOS-XR: option 124 enterprise 9 "SN:...;PID:...".
		{"cisco ios-xr option 124", []opt{{124, vivc9("SN:FOC2122R1ZZ;PID:NCS-55A1")}, {61, "t:FOC2122R1ZZ"}}, nil, "FOC2122R1ZZ", "cisco", "NCS-55A1", "option 124"},
		{"cisco ios-xr SN:0 falls back to option 61", []opt{{124, vivc9("SN:0;PID:R-IOSXRV9000-C")}, {61, "t:FOC9999X1YZ"}}, nil, "FOC9999X1YZ", "", "", "option 61"},
		{"nokia serial as text", []opt{{61, "t:NS1234567890"}}, nil, "NS1234567890", "", "", "option 61"},
		{"nokia class id", []opt{{60, "t:NOKIA:7750 SR-1"}, {61, "t:NS2040F0123"}}, nil, "NS2040F0123", "nokia", "7750 SR-1", "option 60"},
		{"arista 7280r3", []opt{{60, "t:Arista;DCS-7280CR3-32P4;12.00;JPE21104321"}}, nil, "JPE21104321", "arista", "DCS-7280CR3-32P4", "option 60"},
		{"cisco ncs-540 option 124", []opt{{124, vivc9("SN:FOC2401NAB1;PID:N540X-16Z4G8Q2C-A")}}, nil, "FOC2401NAB1", "cisco", "N540X-16Z4G8Q2C-A", "option 124"},
		{"cisco asr9903 option 124", []opt{{124, vivc9("SN:FOX2316P0AB;PID:ASR-9903")}, {61, "t:FOX2316P0AB"}}, nil, "FOX2316P0AB", "cisco", "ASR-9903", "option 124"},
		{"ios-xe alternate client id", []opt{{61, "00" + hex.EncodeToString([]byte("cisco-0050.5685.3ab2-Gi1"))}}, nil, "", "", "", ""},
		{"dhclient type 1 client id", []opt{{61, "01 2c6bf5010203"}}, nil, "", "", "", ""},
		{"no identity", nil, nil, "", "", "", ""},
		{"traversal in vendor class", []opt{{60, "t:Juniper-mx-../../etc"}}, nil, "", "juniper", "mx", ""},
		{"serial too long", []opt{{60, "t:Arista;X;1;" + strings.Repeat("A", 65)}}, nil, "", "arista", "X", ""},
		// The model is a log field and a column of sealboot status, printed
		// to the operator's terminal: no control characters (escape
		// sequences), and not longer than a serial may be.
		{"escape sequence in the model", []opt{{60, "t:Juniper-\x1b[2J\x1b]0;x\x07mx204-JN1234567AB"}}, nil, "JN1234567AB", "juniper", "?[2J?]0;x?mx204", "option 60"},
		{"C1 control and NUL in the model", []opt{{60, "t:Arista;DCS\u009b2J\x00;1;JPE1"}}, nil, "JPE1", "arista", "DCS?2J?", "option 60"},
		{"long model", []opt{{60, "t:NOKIA:" + strings.Repeat("é", 40)}, {61, "t:NS1"}}, nil, "NS1", "nokia", strings.Repeat("é", 32), "option 60"},
		{"model in option 124", []opt{{124, vivc9("SN:FOC1;PID:N540\r\x1b[1A")}}, nil, "FOC1", "cisco", "N540??[1A", "option 124"},
		// The inventory's serial wins; the vendor and model the request
		// names stay, for profiles to match.
		{"inventory overrides", []opt{{60, "t:Juniper-mx204-JN1"}}, inv{testMAC.String(): "INV-42"}, "INV-42", "juniper", "mx204", "inventory"},
		{"inventory for a juniper sending its platform only", []opt{{60, "t:Juniper-ex2200-48t-4g"}}, inv{testMAC.String(): "CW0210260050"}, "CW0210260050", "juniper", "ex2200-48t-4g", "inventory"},
		{"inventory for classic ios", nil, inv{testMAC.String(): "FTX1234A0BC"}, "FTX1234A0BC", "", "", "inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var i Inventory
			if tt.inv != nil {
				i = tt.inv
			}
			id := FromDHCPv4(packet4(t, tt.opts...), i)
			if id.Serial != tt.serial || id.Vendor != tt.vendor || id.Model != tt.model || id.Source != tt.source {
				t.Fatalf("got %+v\nwant serial=%q vendor=%q model=%q source=%q", id, tt.serial, tt.vendor, tt.model, tt.source)
			}
			if id.MAC.String() != testMAC.String() {
				t.Fatalf("MAC %v", id.MAC)
			}
		})
	}
}

// The formats insomniacslk/dhcp's ztpv4 knows give the same serial here.
func TestAgreesWithZTPv4(t *testing.T) {
	t.Parallel()
	for _, vc := range []string{"Arista;DCS-7050S-64;01.23;JPE12345678", "Juniper-ptx1000-DD123", "Juniper-qfx10002-36q-DN817", "Juniper:ttttt-ttt:D12345", "ZPESystems:NSC:002251623"} {
		p := packet4(t, opt{60, "t:" + vc})
		want, err := ztpv4.ParseVendorData(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := FromDHCPv4(p, nil); got.Serial != want.Serial || got.Model != want.Model {
			t.Errorf("%s: got %+v, ztpv4 says %+v", vc, got, want)
		}
	}
}

func TestFromDHCPv6(t *testing.T) {
	t.Parallel()
	llMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x66}
	tests := []struct {
		name                   string
		duid                   dhcpv6.DUID
		opts                   []dhcpv6.Option
		inv                    inv
		serial, vendor, source string
	}{
		{"nokia duid-en", &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567890")}, nil, nil, "NS1234567890", "nokia", "duid-en"},
		{"arista option 16", &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: llMAC},
			[]dhcpv6.Option{&dhcpv6.OptVendorClass{EnterpriseNumber: 30065, Data: [][]byte{[]byte("Arista;DCS-7280SR-48C6;11.00;JPE17191234")}}}, nil, "JPE17191234", "arista", "option 16"},
		{"arista option 16 bare serial", &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: llMAC},
			[]dhcpv6.Option{&dhcpv6.OptVendorClass{EnterpriseNumber: 30065, Data: [][]byte{[]byte("JPE17191235")}}}, nil, "JPE17191235", "arista", "option 16"},
		{"cisco option 17", &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: llMAC},
			[]dhcpv6.Option{&dhcpv6.OptVendorOpts{EnterpriseNumber: 9, VendorOpts: dhcpv6.Options{&dhcpv6.OptionGeneric{OptionCode: 1, OptionData: []byte("SN:FOC2122R1ZZ;PID:NCS-55A1")}}}}, nil, "FOC2122R1ZZ", "cisco", "option 17"},
		{"cisco ios-xr option 16", &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: llMAC},
			[]dhcpv6.Option{&dhcpv6.OptVendorClass{EnterpriseNumber: 9, Data: [][]byte{[]byte("SN:FOC6665XR01;PID:NCS-5508")}}}, nil, "FOC6665XR01", "cisco", "option 16"},
		{"cisco duid-en with its trailing NUL", &dhcpv6.DUIDEN{EnterpriseNumber: 9, EnterpriseIdentifier: []byte("FOC1947R143\x00")}, nil, nil, "FOC1947R143", "cisco", "duid-en"},
		{"duid-ll with inventory", &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: llMAC}, nil, inv{llMAC.String(): "SONIC-01"}, "SONIC-01", "", "inventory"},
		{"duid-llt unknown", &dhcpv6.DUIDLLT{HWType: 1, Time: 1, LinkLayerAddr: llMAC}, nil, nil, "", "", ""},
		{"duid-en binary identifier", &dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte{0xff, 0x00}}, nil, nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sol, err := dhcpv6.NewMessage(dhcpv6.WithClientID(tt.duid))
			if err != nil {
				t.Fatal(err)
			}
			sol.MessageType = dhcpv6.MessageTypeSolicit
			for _, o := range tt.opts {
				sol.AddOption(o)
			}
			wire, err := dhcpv6.MessageFromBytes(sol.ToBytes())
			if err != nil {
				t.Fatal(err)
			}
			var i Inventory
			if tt.inv != nil {
				i = tt.inv
			}
			id := FromDHCPv6(wire, nil, i)
			if id.Serial != tt.serial || id.Vendor != tt.vendor || id.Source != tt.source {
				t.Fatalf("got %+v, want %q %q %q", id, tt.serial, tt.vendor, tt.source)
			}
		})
	}
}

// A model in DHCPv6 option 16 is cleaned as in DHCPv4.
func TestModel6Cleaned(t *testing.T) {
	t.Parallel()
	sol, err := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: testMAC}))
	if err != nil {
		t.Fatal(err)
	}
	sol.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 30065, Data: [][]byte{[]byte("Arista;DCS\x1b[2J;11.00;JPE17191234")}})
	wire, err := dhcpv6.MessageFromBytes(sol.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if id := FromDHCPv6(wire, nil, nil); id.Serial != "JPE17191234" || id.Model != "DCS?[2J" {
		t.Fatalf("got %+v", id)
	}
}

// FuzzIdentify4: arbitrary bytes as a DHCPv4 packet never panic, and any
// serial found is a safe one.
func FuzzIdentify4(f *testing.F) {
	d, _ := dhcpv4.NewDiscovery(testMAC, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN1")))
	f.Add(d.ToBytes())
	d.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, []byte("\x00FDO1")))
	d.UpdateOption(dhcpv4.OptVIVC(dhcpv4.VIVCIdentifier{EntID: 9, Data: []byte("SN:X;PID:Y")}))
	f.Add(d.ToBytes())
	f.Add([]byte{1, 1, 6, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		id := FromDHCPv4(p, inv{})
		if id.Serial != "" && !ValidSerial(id.Serial) {
			t.Fatalf("unsafe serial %q", id.Serial)
		}
		if id.Model != cleanModel(id.Model) {
			t.Fatalf("unclean model %q", id.Model)
		}
	})
}

// FuzzIdentify6 does the same for DHCPv6, relayed messages included.
func FuzzIdentify6(f *testing.F) {
	m, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1")}))
	f.Add(m.ToBytes())
	r, _ := dhcpv6.EncapsulateRelay(m, dhcpv6.MessageTypeRelayForward, net.IPv6loopback, net.IPv6loopback)
	f.Add(r.ToBytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := dhcpv6.FromBytes(data)
		if err != nil {
			return
		}
		msg, err := p.GetInnerMessage()
		if err != nil {
			return
		}
		if id := FromDHCPv6(msg, nil, inv{}); id.Serial != "" && !ValidSerial(id.Serial) {
			t.Fatalf("unsafe serial %q", id.Serial)
		}
	})
}
