package bootstrap

import (
	"fmt"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/leases"
)

// BenchmarkExchange4 is the plugin's share of one 4-way DHCPv4 exchange
// (DISCOVER → OFFER, REQUEST → ACK) as bench/dhcp.sh drives it: 1,000
// clients cycled, each with a Juniper serial in option 60, so identity,
// lease, boot options and events all run. CoreDHCP's own work (socket,
// parsing, the reply's skeleton) is not in it: see bench/dhcpcpu.sh for
// the whole server against Kea.
func BenchmarkExchange4(b *testing.B) {
	cfg := testConfig()
	pool, _ := leases.ParsePool("198.18.0.10-198.18.255.250")
	cfg.V4.Direct.Pool, cfg.V4.Direct.Netmask = pool, net.CIDRMask(16, 32)
	v4, _ := leases.Open(leases.Options{}, zap.NewNop(), nil)
	v6, _ := leases.Open(leases.Options{}, zap.NewNop(), nil)
	p, err := New(cfg, Deps{V4: v4, V6: v6}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	const clients = 1000
	discover := make([]*dhcpv4.DHCPv4, clients)
	for i := range discover {
		mac := net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		d, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("Juniper-mx204-JN%06d", i))))
		discover[i] = d
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := discover[i%clients]
		offer, _ := dhcpv4.NewReplyFromRequest(d, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
		offer, _ = p.Handle4(d, offer)
		if offer == nil {
			b.Fatal("no offer")
		}
		req, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(d.ClassIdentifier())))
		ack, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeAck))
		if ack, _ = p.Handle4(req, ack); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			b.Fatalf("no ack: %v", ack)
		}
	}
}
