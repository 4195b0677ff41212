package bootstrap

import (
	"bytes"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
)

// The RFC 8572 section 8.3 framing: each URI with a two-byte length.
func TestSZTPRedirectFraming(t *testing.T) {
	t.Parallel()
	got := sztpRedirect("https://192.0.2.1", "https://[2001:db8::1]:8443")
	want := append(append([]byte{0, 17}, "https://192.0.2.1"...), append([]byte{0, 26}, "https://[2001:db8::1]:8443"...)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("% x", got)
	}
	for _, tt := range []struct {
		s    SZTP
		addr string
		want string
	}{
		{SZTP{Enabled: true, Port: 443}, "192.0.2.1", "https://192.0.2.1"},
		{SZTP{Enabled: true}, "192.0.2.1", "https://192.0.2.1"},
		{SZTP{Enabled: true, Port: 8443}, "2001:db8::1", "https://[2001:db8::1]:8443"},
	} {
		if u := tt.s.uri(addrs(tt.addr)[0]); u != tt.want {
			t.Errorf("%v %s: %q", tt.s, tt.addr, u)
		}
	}
}

// Option 143 goes to a device whose profile says transport: sztp and to
// any client that asks for it, only when the SZTP server runs; option 136
// likewise.
func TestSZTPOptions(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SZTP = SZTP{Enabled: true, Port: 8443}
	cfg.Profiles = []Profile{{Name: "sztp-juniper", Vendor: "juniper", Model: "qfx*", Transport: TransportSZTP}}
	f := newFixture(t, cfg, nil)
	want4 := sztpRedirect("https://192.0.2.1:8443")
	ask := dhcpv4.WithRequestedOptions(dhcpv4.GenericOptionCode(OptionSZTPRedirect4))
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want bool
	}{
		{"profile transport sztp", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-qfx5120-WS3718350001"))}, true},
		{"another device that asks", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN11F4C4DAFA")), ask}, true},
		{"another device that does not ask", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN11F4C4DAFB"))}, false},
	}
	for i, tt := range tests {
		d := discover(tt.mods...)
		d.ClientHWAddr = []byte{2, 0, 0, 0, 1, byte(i)}
		offer := f.exchange4(t, d)
		got := offer.Options.Get(dhcpv4.GenericOptionCode(OptionSZTPRedirect4))
		if (got != nil) != tt.want || (tt.want && !bytes.Equal(got, want4)) {
			t.Errorf("%s: option 143 = % x", tt.name, got)
		}
	}
	// SZTP off: nobody gets it, asked or not.
	off := testConfig()
	f2 := newFixture(t, off, nil)
	if got := f2.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN11F4C4DAFA")), ask)).Options.Get(dhcpv4.GenericOptionCode(OptionSZTPRedirect4)); got != nil {
		t.Errorf("option 143 without the SZTP server: % x", got)
	}
	// DHCPv6: a client whose ORO names 136.
	sol, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDEN{EnterpriseNumber: 6527, EnterpriseIdentifier: []byte("NS1234567890")}),
		dhcpv6.WithIAID([4]byte{0, 0, 0, 1}), dhcpv6.WithRequestedOptions(dhcpv6.OptionCode(OptionSZTPRedirect6)))
	sol.MessageType = dhcpv6.MessageTypeSolicit
	adv := f.exchange6(t, sol)
	got := adv.Options.GetOne(dhcpv6.OptionCode(OptionSZTPRedirect6))
	if got == nil || !bytes.Equal(got.ToBytes(), sztpRedirect("https://[2001:db8::1]:8443")) {
		t.Fatalf("option 136 = %v", got)
	}
}
