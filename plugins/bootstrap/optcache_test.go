package bootstrap

import (
	"bytes"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The options of an answer are encoded once per shape and reused: the
// same device gets the same bytes again, another device its own file, and
// a reload that changes the boot file template is seen at once.
func TestOptionCacheFollowsDeviceAndReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	discover := func(mac byte, vc string) *dhcpv4.DHCPv4 {
		d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, mac}, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vc)))
		return d
	}
	a1 := f.exchange4(t, discover(1, "Juniper-mx204-JN0001"))
	a2 := f.exchange4(t, discover(1, "Juniper-mx204-JN0001"))
	b := f.exchange4(t, discover(2, "Juniper-mx204-JN0002"))
	if a1 == nil || a2 == nil || b == nil {
		t.Fatal("no offer")
	}
	if a1.BootFileNameOption() != "JN0001.enc" || b.BootFileNameOption() != "JN0002.enc" || b.BootFileName != "JN0002.enc" {
		t.Fatalf("boot files %q %q (BOOTP field %q)", a1.BootFileNameOption(), b.BootFileNameOption(), b.BootFileName)
	}
	a2.TransactionID = a1.TransactionID // each DISCOVER has its own
	if !bytes.Equal(a1.ToBytes(), a2.ToBytes()) {
		t.Fatal("the same device got different answers")
	}
	if o43a, o43b := a1.Options.Get(dhcpv4.OptionVendorSpecificInformation), b.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Contains(o43a, []byte("JN0001.enc")) || !bytes.Contains(o43b, []byte("JN0002.enc")) {
		t.Fatalf("Juniper option 43: %q, %q", o43a, o43b)
	}
	cfg := testConfig()
	cfg.Bootfile = "{serial}.conf"
	if err := f.p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if got := f.exchange4(t, discover(1, "Juniper-mx204-JN0001")); got == nil || got.BootFileNameOption() != "JN0001.conf" {
		t.Fatalf("after reload: %v", got)
	}
}
