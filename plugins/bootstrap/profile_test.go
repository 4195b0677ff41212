package bootstrap

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var goldenOptions = Options{
	NTP:    addrs("192.0.2.123", "2001:db8::123", "198.51.100.123"),
	DNS:    addrs("192.0.2.53", "2001:db8::53"),
	Log:    addrs("192.0.2.4"),
	Domain: "pop1.example.net.",
	Raw4:   []RawOption{{Code: 125, Value: []byte{0, 0, 0x0a, 0x4c, 2, 1, 0}}},
	Raw6:   []RawOption{{Code: 64, Value: []byte("aftr.example.net")}},
}

// TestOptionsGolden: the bytes each option carries, as the RFCs lay them
// out, and as the dhcp library parses them back.
func TestOptionsGolden(t *testing.T) {
	t.Parallel()
	got4 := map[uint8][]byte{}
	for _, o := range goldenOptions.v4() {
		got4[o.Code.Code()] = o.Value.ToBytes()
	}
	want4 := map[uint8]string{
		42:  "c000027b c633647b",                            // RFC 2132 8.3: the IPv4 servers only
		6:   "c0000235",                                     // 3.8
		7:   "c0000204",                                     // 3.9
		15:  hex.EncodeToString([]byte("pop1.example.net")), // 3.17: text, no trailing dot
		125: "00000a4c020100",                               // raw, as given
	}
	if len(got4) != len(want4) {
		t.Errorf("v4 options %v, want codes of %v", got4, want4)
	}
	for code, w := range want4 {
		if !bytes.Equal(got4[code], unhex(t, w)) {
			t.Errorf("v4 option %d = % x, want %s", code, got4[code], w)
		}
	}
	got6 := map[dhcpv6.OptionCode][]byte{}
	for _, o := range goldenOptions.v6() {
		got6[o.Code()] = o.ToBytes()
	}
	want6 := map[dhcpv6.OptionCode]string{
		56: "0001 0010 20010db8000000000000000000000123", // RFC 5908 4.1: sub-option 1, length 16
		31: "20010db8000000000000000000000123",           // RFC 4075
		23: "20010db8000000000000000000000053",           // RFC 3646 3
		24: "04706f7031 076578616d706c65 036e6574 00",    // RFC 1035 3.1 labels
		64: hex.EncodeToString([]byte("aftr.example.net")),
	}
	if len(got6) != len(want6) {
		t.Errorf("v6 options %v, want codes of %v", got6, want6)
	}
	for code, w := range want6 {
		if !bytes.Equal(got6[code], unhex(t, w)) {
			t.Errorf("v6 option %d = % x, want %s", code, got6[code], w)
		}
	}
	// The library reads them back as the same values.
	var ntp dhcpv6.OptNTPServer
	if err := ntp.FromBytes(got6[56]); err != nil || len(ntp.Suboptions) != 1 || ntp.Suboptions[0].String() != "Server Address: 2001:db8::123" {
		t.Errorf("option 56 parses as %v, %v", ntp, err)
	}
	if l, err := rfc1035label.FromBytes(got6[24]); err != nil || len(l.Labels) != 1 || l.Labels[0] != "pop1.example.net" {
		t.Errorf("option 24 parses as %v, %v", l, err)
	}
}

func TestJuniperOption43Golden(t *testing.T) {
	t.Parallel()
	img := &Profile{Transport: TransportHTTP, Image: "junos-arm-32-23.4R2.tgz", ImageAlt: "junos-alt.tgz"}
	tests := []struct {
		name string
		prof *Profile
		h    HTTP
		want string
	}{
		{"no profile: tftp", nil, HTTP{}, "01 07 534e312e656e63  03 04 74667470"},
		{"tftp profile", &Profile{Transport: TransportTFTP}, HTTP{Scheme: "http", Port: 8080}, "01 07 534e312e656e63  03 04 74667470"},
		{"http on port 80", &Profile{Transport: TransportHTTP}, HTTP{Scheme: "http", Port: 80}, "01 07 534e312e656e63  03 04 68747470"},
		{"http on 8080 with images", img, HTTP{Scheme: "http", Port: 8080},
			"00 1e " + hex.EncodeToString([]byte("images/junos-arm-32-23.4R2.tgz")) +
				" 01 07 534e312e656e63  03 04 68747470  04 14 " + hex.EncodeToString([]byte("images/junos-alt.tgz")) + " 05 04 38303830"},
		{"https on 443", &Profile{Transport: TransportHTTP}, HTTP{Scheme: "https", Port: 443}, "01 07 534e312e656e63  03 05 6874747073  05 03 343433"},
	}
	for _, tt := range tests {
		if got := juniperOption43("SN1.enc", tt.prof, tt.h); !bytes.Equal(got, unhex(t, tt.want)) {
			t.Errorf("%s: option 43 = % x\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestHTTPURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    HTTP
		addr string
		want string
	}{
		{HTTP{"http", 80}, "192.0.2.1", "http://192.0.2.1/SN1.enc"},
		{HTTP{"http", 8080}, "192.0.2.1", "http://192.0.2.1:8080/SN1.enc"},
		{HTTP{"http", 8080}, "2001:db8::1", "http://[2001:db8::1]:8080/SN1.enc"},
		{HTTP{"https", 443}, "2001:db8::1", "https://[2001:db8::1]/SN1.enc"},
		{HTTP{"https", 80}, "192.0.2.1", "https://192.0.2.1:80/SN1.enc"},
		{HTTP{"http", 0}, "192.0.2.1", "http://192.0.2.1/SN1.enc"},
	}
	for _, tt := range tests {
		if got := tt.h.url(netip.MustParseAddr(tt.addr), "SN1.enc"); got != tt.want {
			t.Errorf("%+v %s: %q, want %q", tt.h, tt.addr, got, tt.want)
		}
	}
}

// TestProfileMatching: the first profile whose every criterion holds
// wins; a device with no serial matches none.
func TestProfileMatching(t *testing.T) {
	t.Parallel()
	cfg := Config{Profiles: []Profile{
		{Name: "one-mx", Serials: []string{"JN11F4C4DAFA"}},
		{Name: "ex-access", Vendor: "juniper", Model: "ex2[23]00-*"},
		{Name: "arista-7050", Vendor: "arista", Model: "DCS-7050*"},
		{Name: "cisco-by-serial", Vendor: "cisco", Serials: []string{"FOC2401NAB1", "FOX2316P0AB"}},
		{Name: "juniper", Vendor: "juniper"},
		{Name: "rest"},
	}}
	tests := []struct {
		name string
		id   identity.Identity
		want string
	}{
		{"serial before vendor", identity.Identity{Serial: "JN11F4C4DAFA", Vendor: "juniper", Model: "ex2200-48t-4g"}, "one-mx"},
		{"model glob", identity.Identity{Serial: "CW0210260050", Vendor: "juniper", Model: "ex2200-48t-4g"}, "ex-access"},
		{"model glob is case-insensitive", identity.Identity{Serial: "CW0210260051", Vendor: "juniper", Model: "EX2300-C-12P"}, "ex-access"},
		{"model not matching falls through", identity.Identity{Serial: "TA3714AF0123", Vendor: "juniper", Model: "qfx5100-48s-6q"}, "juniper"},
		{"no model never matches a model glob", identity.Identity{Serial: "CW1", Vendor: "juniper"}, "juniper"},
		{"arista model", identity.Identity{Serial: "JPE20123456", Vendor: "arista", Model: "DCS-7050SX3-48YC8"}, "arista-7050"},
		{"vendor and serials both hold", identity.Identity{Serial: "FOX2316P0AB", Vendor: "cisco", Model: "ASR-9903"}, "cisco-by-serial"},
		{"serial listed but other vendor", identity.Identity{Serial: "FOX2316P0AB", Vendor: "nokia"}, "rest"},
		{"catch-all", identity.Identity{Serial: "NS1234567890", Vendor: "nokia"}, "rest"},
		{"unrecognised device", identity.Identity{Vendor: "juniper", Model: "ex2200-48t-4g"}, ""},
	}
	for _, tt := range tests {
		if got := profileName(cfg.profileFor(tt.id)); got != tt.want {
			t.Errorf("%s: profile %q, want %q", tt.name, got, tt.want)
		}
	}
}

func profileConfig() Config {
	cfg := testConfig()
	cfg.HTTP = HTTP{Scheme: "http", Port: 8080}
	cfg.Profiles = []Profile{
		{Name: "mx-http", Serials: []string{"JN11F4C4DAFA", "NS1234567890"}, Transport: TransportHTTP, Image: "junos.tgz", Options: goldenOptions},
		{Name: "tftp", Vendor: "juniper", Transport: TransportTFTP, Options: Options{NTP: addrs("192.0.2.9")}},
	}
	return cfg
}

// TestProfileDORA: a device of an http profile is told a URL in option 67
// and the file field, Juniper's option 43 with the image and mode, and the
// profile's options, which replace the subnet's DNS; the dhcp.ack event
// names the profile.
func TestProfileDORA(t *testing.T) {
	t.Parallel()
	f := newFixture(t, profileConfig(), nil)
	vc := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN11F4C4DAFA"))
	offer := f.exchange4(t, discover(vc))
	ack := f.exchange4(t, request(offer, vc))
	url := "http://192.0.2.1:8080/JN11F4C4DAFA.enc"
	if ack.BootFileName != url || ack.BootFileNameOption() != url || !ack.ServerIPAddr.Equal(serverID.AsSlice()) {
		t.Errorf("file %q, option 67 %q, siaddr %v", ack.BootFileName, ack.BootFileNameOption(), ack.ServerIPAddr)
	}
	want43 := juniperOption43("JN11F4C4DAFA.enc", &f.p.cfg.Load().Profiles[0], HTTP{"http", 8080})
	if got := ack.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want43) || !bytes.Contains(got, []byte("images/junos.tgz")) {
		t.Errorf("option 43 = % x", got)
	}
	if dns := ack.DNS(); len(dns) != 1 || dns[0].String() != "192.0.2.53" {
		t.Errorf("DNS %v", dns)
	}
	if ntp := ack.NTPServers(); len(ntp) != 2 || ntp[1].String() != "198.51.100.123" {
		t.Errorf("NTP %v", ntp)
	}
	if ack.DomainName() != "pop1.example.net" || !bytes.Equal(ack.Options.Get(dhcpv4.OptionLogServer), []byte{192, 0, 2, 4}) {
		t.Errorf("domain %q, log %v", ack.DomainName(), ack.Options.Get(dhcpv4.OptionLogServer))
	}
	ev := f.logs.FilterField(zap.String("event", "dhcp.ack")).AllUntimed()
	if len(ev) != 1 || ev[0].ContextMap()["profile"] != "mx-http" || ev[0].ContextMap()["bootfile"] != url {
		t.Errorf("dhcp.ack events: %v", ev)
	}

	// A Juniper of the tftp profile: a bare name, 43 with tftp, and the
	// subnet's DNS (its profile sets none).
	other := discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-ex2200-48t-4g")), dhcpv4.WithOption(dhcpv4.OptHostName("CW0210260050")))
	other.ClientHWAddr = []byte{2, 0, 0, 0, 0, 9}
	o2 := f.exchange4(t, other)
	if o2.BootFileName != "CW0210260050.enc" || o2.BootFileNameOption() != "CW0210260050.enc" || o2.DNS()[0].String() != "192.0.2.53" || o2.NTPServers()[0].String() != "192.0.2.9" {
		t.Errorf("tftp profile: file %q, 67 %q, DNS %v, NTP %v", o2.BootFileName, o2.BootFileNameOption(), o2.DNS(), o2.NTPServers())
	}
	if ev := f.logs.FilterField(zap.String("event", "dhcp.offer")).FilterField(zap.String("profile", "tftp")).Len(); ev != 1 {
		t.Errorf("%d dhcp.offer events naming profile tftp", ev)
	}
}

// TestProfileRaw43ReplacesJuniper: a raw option 43 in the profile is sent
// instead of the one sealboot builds.
func TestProfileRaw43ReplacesJuniper(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Profiles = []Profile{{Name: "own-43", Vendor: "juniper", Options: Options{Raw4: []RawOption{{Code: 43, Value: []byte{1, 1, 'x'}}}}}}
	f := newFixture(t, cfg, nil)
	offer := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN12AB"))))
	if got := offer.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, []byte{1, 1, 'x'}) {
		t.Fatalf("option 43 = % x", got)
	}
}

// TestProfileDHCPv6: option 59 is the HTTP URL with the address in
// brackets; the profile's DNS replaces the subnet's; NTP and the domain
// search list come along.
func TestProfileDHCPv6(t *testing.T) {
	t.Parallel()
	cfg := profileConfig()
	cfg.V6.DNS = addrs("2001:db8::99")
	f := newFixture(t, cfg, nil)
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567890")}), dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	adv := f.exchange6(t, sol)
	if got := adv.Options.BootFileURL(); got != "http://[2001:db8::1]:8080/NS1234567890.enc" {
		t.Errorf("option 59 = %q", got)
	}
	if dns := adv.Options.DNS(); len(dns) != 1 || dns[0].String() != "2001:db8::53" {
		t.Errorf("DNS %v, want the profile's only", dns)
	}
	if got := adv.Options.Get(opt6NTP); len(got) != 1 || len(got[0].ToBytes()) != 20 {
		t.Errorf("option 56: %v", got)
	}
	if l := adv.Options.DomainSearchList(); l == nil || len(l.Labels) != 1 || l.Labels[0] != "pop1.example.net" {
		t.Errorf("option 24: %v", l)
	}
	if ev := f.logs.FilterField(zap.String("event", "dhcp.offer")).FilterField(zap.String("profile", "mx-http")).Len(); ev != 1 {
		t.Errorf("%d dhcp.offer events naming the profile", ev)
	}
}

// TestProfileReload: Update swaps the profiles; the next exchange uses them.
func TestProfileReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	vc := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Arista;DCS-7050SX3-48YC8;11.01;JPE20123456"))
	if o := f.exchange4(t, discover(vc)); o.BootFileNameOption() != "JPE20123456.enc" {
		t.Fatalf("before: %q", o.BootFileNameOption())
	}
	cfg := profileConfig()
	cfg.Profiles = []Profile{{Name: "arista-http", Vendor: "arista", Transport: TransportHTTP}}
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if o := f.exchange4(t, discover(vc)); o.BootFileNameOption() != "http://192.0.2.1:8080/JPE20123456.enc" {
		t.Fatalf("after: %q", o.BootFileNameOption())
	}
}

func TestProfileValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Profile
		h    HTTP
		want string
	}{
		{"no name", Profile{}, HTTP{}, "a name is needed"},
		{"bad glob", Profile{Name: "x", Model: "["}, HTTP{}, "syntax error in pattern"},
		{"image over tftp", Profile{Name: "x", Image: "a.tgz"}, HTTP{}, "an image needs transport http"},
		{"http without server", Profile{Name: "x", Transport: TransportHTTP}, HTTP{}, "needs the HTTP server"},
		{"sztp without the server", Profile{Name: "x", Transport: TransportSZTP}, HTTP{}, "transport sztp needs the SZTP server"},
		{"unknown transport", Profile{Name: "x", Transport: "ftp"}, HTTP{}, `unknown transport "ftp"`},
		{"raw code 255", Profile{Name: "x", Options: Options{Raw4: []RawOption{{Code: 255}}}}, HTTP{}, "option 255 cannot be sent"},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.HTTP, cfg.Profiles = tt.h, []Profile{tt.p}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestProfileLongURL: a URL that does not fit the 128-byte BOOTP file field
// leaves it empty; option 67 carries it whole.
func TestProfileLongURL(t *testing.T) {
	t.Parallel()
	cfg := profileConfig()
	cfg.Bootfile = "{serial}." + strings.Repeat("x", 100) + ".enc"
	f := newFixture(t, cfg, nil)
	offer := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN11F4C4DAFA"))))
	if want := "http://192.0.2.1:8080/JN11F4C4DAFA." + strings.Repeat("x", 100) + ".enc"; offer.BootFileName != "" || offer.BootFileNameOption() != want {
		t.Fatalf("file %q, option 67 %q", offer.BootFileName, offer.BootFileNameOption())
	}
}
