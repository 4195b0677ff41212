package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

var mac = net.HardwareAddr{0x00, 0x50, 0x56, 0x85, 0x3a, 0xb2}

// discover4 builds the DISCOVER a device would send on attempt n.
func discover4(t *testing.T, vendor string, n int) *dhcpv4.DHCPv4 {
	t.Helper()
	cfg := &Config{Serial: "SN123", Vendor: vendor, MAC: mac}
	d, err := dhcpv4.NewDiscovery(mac, cfg.modifiers4(n)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVendorPresentation4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vendor  string
		attempt int
		opt60   string
		opt61   []byte
	}{
		{VendorJuniper, 1, "Juniper-mx204-SN123", nil},
		{VendorArista, 1, "Arista;DCS-7050SX3-48YC8;11.01;SN123", nil},
		{VendorCiscoNXOS, 1, "", append([]byte{0}, "SN123"...)},
		{VendorCiscoXE, 1, "", append([]byte{0}, "SN123"...)},
		{VendorCiscoXE, 2, "", append([]byte{0}, "cisco-0050.5685.3ab2-Gi1"...)},
		{VendorCiscoXE, 3, "", append([]byte{0}, "SN123"...)},
		{VendorNokia, 1, "", []byte("SN123")},
		{VendorPlain, 1, "", nil},
	}
	for _, tt := range tests {
		d := discover4(t, tt.vendor, tt.attempt)
		if got := d.ClassIdentifier(); got != tt.opt60 {
			t.Errorf("%s attempt %d: option 60 %q, want %q", tt.vendor, tt.attempt, got, tt.opt60)
		}
		if got := d.Options.Get(dhcpv4.OptionClientIdentifier); !bytes.Equal(got, tt.opt61) {
			t.Errorf("%s attempt %d: option 61 %q, want %q", tt.vendor, tt.attempt, got, tt.opt61)
		}
		for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerAddress} {
			if !d.IsOptionRequested(o) {
				t.Errorf("%s: option %v not requested", tt.vendor, o)
			}
		}
	}
}

func TestVendorPresentation6(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		vendor   string
		duid     string
		vcString string
	}{
		{VendorNokia, "DUID-EN{EnterpriseNumber=6527 EnterpriseIdentifier=SN123}", ""},
		{VendorCiscoNXOS, "DUID-EN{EnterpriseNumber=9 EnterpriseIdentifier=SN123", ""},
		{VendorJuniper, "DUID-LL", "Juniper-mx204-SN123"},
		{VendorArista, "DUID-LL", "Arista;DCS-7050SX3-48YC8;11.01;SN123"},
		{VendorPlain, "DUID-LL", ""},
	} {
		cfg := &Config{Serial: "SN123", Vendor: tt.vendor, MAC: mac}
		m, _ := dhcpv6.NewSolicit(mac, cfg.modifiers6()...)
		if got := m.Options.ClientID().String(); !strings.HasPrefix(got, tt.duid) {
			t.Errorf("%s: DUID %s, want %s", tt.vendor, got, tt.duid)
		}
		var vc string
		if v := m.Options.VendorClasses(); len(v) == 1 {
			vc = string(v[0].Data[0])
		}
		if vc != tt.vcString {
			t.Errorf("%s: vendor class %q, want %q", tt.vendor, vc, tt.vcString)
		}
	}
}

func ack(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d, _ := dhcpv4.New(mods...)
	return d
}

func TestBootInfoPrecedence(t *testing.T) {
	t.Parallel()
	full := []dhcpv4.Modifier{
		dhcpv4.WithServerIP(net.IPv4(10, 0, 0, 1)),
		dhcpv4.WithOption(dhcpv4.OptTFTPServerName("10.0.0.66")),
		dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionTFTPServerAddress, Value: dhcpv4.IPs{net.IPv4(10, 0, 0, 150)}}),
		dhcpv4.WithOption(dhcpv4.OptBootFileName("opt67.enc")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, append(append([]byte{0x00, 3}, "img"...), append([]byte{0x01, 7}, "opt43.1"...)...))),
	}
	withFileField := func(d *dhcpv4.DHCPv4) { d.BootFileName = "field.enc" }
	tests := []struct {
		name, vendor, server string
		files                []string
		mods                 []dhcpv4.Modifier
	}{
		{"juniper prefers 43.01 and 150", VendorJuniper, "10.0.0.150", []string{"opt43.1", "opt67.enc", "field.enc"}, append(full, withFileField)},
		{"cisco prefers 150", VendorCiscoNXOS, "10.0.0.150", []string{"opt67.enc", "field.enc"}, append(full, withFileField)},
		{"plain prefers siaddr", VendorPlain, "10.0.0.1", []string{"opt67.enc", "field.enc"}, append(full, withFileField)},
		{"cisco falls back to 66 then siaddr", VendorCiscoNXOS, "10.0.0.1", []string{"field.enc"}, []dhcpv4.Modifier{dhcpv4.WithServerIP(net.IPv4(10, 0, 0, 1)), withFileField}},
		{"ios-xe autoinstall names", VendorCiscoXE, "10.0.0.1", ciscoAutoInstall, []dhcpv4.Modifier{dhcpv4.WithServerIP(net.IPv4(10, 0, 0, 1))}},
		{"arista url in 67", VendorArista, "192.0.2.9", []string{"dir/SN.enc"}, []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName("tftp://192.0.2.9/dir/SN.enc"))}},
		{"arista http url in 67", VendorArista, "192.0.2.9", []string{"http://192.0.2.9:8080/SN.enc"}, []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName("http://192.0.2.9:8080/SN.enc"))}},
	}
	for _, tt := range tests {
		server, files := bootInfo4(tt.vendor, ack(tt.mods...))
		if server.String() != tt.server || strings.Join(files, ",") != strings.Join(tt.files, ",") {
			t.Errorf("%s: got %s %v, want %s %v", tt.name, server, files, tt.server, tt.files)
		}
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	s := DefaultSchedule
	for _, tt := range []struct {
		elapsed, want time.Duration
	}{{0, 5 * time.Minute}, {59 * time.Minute, 5 * time.Minute}, {time.Hour, time.Hour}, {5 * time.Hour, time.Hour}} {
		if got := s.Next(tt.elapsed); got != tt.want {
			t.Errorf("Next(%v) = %v, want %v", tt.elapsed, got, tt.want)
		}
	}
	short := Schedule{First: 2 * time.Second, Later: 10 * time.Second, Window: time.Minute}
	if short.Next(time.Second) != 2*time.Second || short.Next(2*time.Minute) != 10*time.Second {
		t.Error("custom schedule")
	}
}

func TestInstallChecks(t *testing.T) {
	t.Parallel()
	text := []byte("hostname r1\nsecret x\n")
	crlf := bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))
	sum := sha256.Sum256(text)
	tests := []struct {
		name    string
		data    []byte
		reqEnc  bool
		expect  []byte
		outcome string
	}{
		{"plaintext allowed", text, false, nil, OutcomeInstalled},
		{"plaintext refused", text, true, nil, OutcomePlaintextRefused},
		{"checksum ok", text, false, sum[:], OutcomeInstalled},
		{"checksum ok for CRLF form", crlf, false, sum[:], OutcomeInstalled},
		{"checksum mismatch", []byte("other\n"), false, sum[:], OutcomeChecksumMismatch},
		{"empty", []byte(" \n"), false, nil, OutcomeInvalidConfig},
		{"binary", []byte{0xff, 0xfe, 0x00, 0x01}, false, nil, OutcomeInvalidConfig},
		// An enveloped-data header (BER, indefinite length) with no body.
		{"broken envelope", []byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80, 0x30, 0x80}, false, nil, OutcomeDecryptFailed},
	}
	for _, tt := range tests {
		cfg := &Config{RequireEncrypted: tt.reqEnc, ExpectSHA256: tt.expect, Key: struct{}{}}
		var res Result
		cfg.install(&res, tt.data)
		if res.Outcome != tt.outcome {
			t.Errorf("%s: %s (%s), want %s", tt.name, res.Outcome, res.Error, tt.outcome)
		}
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(Result{Serial: "SN1", Outcome: OutcomeInstalled, Attempts: 2, DHCPMs: 1.5})
	for _, key := range []string{`"serial":"SN1"`, `"outcome":"installed"`, `"attempts":2`, `"dhcp_ms":1.5`, `"tftp_ms":0`, `"encrypted":false`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("%s lacks %s", b, key)
		}
	}
}

func TestFleetNamesAndMACs(t *testing.T) {
	t.Parallel()
	s := FleetSerials("LAB", 12000)
	if s[0] != "LAB00001" || s[11999] != "LAB12000" {
		t.Fatalf("serials %s..%s", s[0], s[11999])
	}
	seen := map[string]bool{}
	for _, serial := range FleetSerials("X", 5000) {
		m := FleetMAC(serial)
		if m[0]&0x02 == 0 || m[0]&0x01 != 0 || seen[m.String()] {
			t.Fatalf("MAC %s for %s is not a unique locally administered unicast address", m, serial)
		}
		seen[m.String()] = true
	}
}

// A file that is an http:// URL is fetched over HTTP, from the leased
// address.
func TestFetchHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/SN1.enc" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "sealed for %s", r.RemoteAddr)
	}))
	defer srv.Close()
	cfg := &Config{TFTPTimeout: time.Second}
	local := netip.MustParseAddr("127.0.0.1")
	data, err := cfg.fetch(t.Context(), local, local, srv.URL+"/SN1.enc")
	if err != nil || !strings.HasPrefix(string(data), "sealed for 127.0.0.1:") {
		t.Fatalf("%q, %v", data, err)
	}
	if _, err := cfg.fetch(t.Context(), local, local, srv.URL+"/other.enc"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 gave %v", err)
	}
}
