package bootstrap

import (
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/leases"
)

func TestPoolMetrics(t *testing.T) {
	t.Parallel()
	v4, _ := leases.Open(leases.Options{}, zap.NewNop(), nil)
	v6, _ := leases.Open(leases.Options{}, zap.NewNop(), nil)
	reg := prometheus.NewRegistry()
	p, err := New(testConfig(), Deps{V4: v4, V6: v6}, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{p: p, v4: v4, v6: v6}
	f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Juniper-mx204-JN1")))) // one offer
	want := `
# HELP sealboot_dhcp_pool_addresses Addresses in each DHCP pool.
# TYPE sealboot_dhcp_pool_addresses gauge
sealboot_dhcp_pool_addresses{family="v4",pool="10.1.0.100-10.1.0.199"} 100
sealboot_dhcp_pool_addresses{family="v4",pool="192.0.2.100-192.0.2.199"} 100
sealboot_dhcp_pool_addresses{family="v6",pool="2001:db8::100-2001:db8::1ff"} 256
# HELP sealboot_dhcp_pool_used_addresses Addresses of each DHCP pool not free: leased, offered, quarantined after a decline, or reserved.
# TYPE sealboot_dhcp_pool_used_addresses gauge
sealboot_dhcp_pool_used_addresses{family="v4",pool="10.1.0.100-10.1.0.199"} 0
sealboot_dhcp_pool_used_addresses{family="v4",pool="192.0.2.100-192.0.2.199"} 1
sealboot_dhcp_pool_used_addresses{family="v6",pool="2001:db8::100-2001:db8::1ff"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sealboot_dhcp_pool_addresses", "sealboot_dhcp_pool_used_addresses"); err != nil {
		t.Fatal(err)
	}
	// Every packet type clients send is a series from the start.
	if n, _ := testutil.GatherAndCount(reg, "sealboot_dhcp_packets_total"); n != 13 {
		t.Fatalf("%d packet series, want 13", n)
	}
}
