package bootstrap

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestUnknownClientLogged: a client with no serial, not answered, is one
// Info line (dhcp.unknown_client) per client however often it asks, and a
// flood of made-up clients is held to unknownBurst lines a window, the
// next line counting what was left out.
func TestUnknownClientLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(), nil)
	for range 3 {
		if resp := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("SomeVendor")))); resp != nil {
			t.Fatal("answered")
		}
	}
	lines := f.logs.FilterField(zap.String("event", "dhcp.unknown_client")).AllUntimed()
	if len(lines) != 1 || lines[0].Level != zapcore.InfoLevel || lines[0].ContextMap()["mac"] != devMAC.String() || lines[0].ContextMap()["family"] != "v4" {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	for i := range 3 * unknownBurst {
		mac := net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		d, _ := dhcpv4.NewDiscovery(mac)
		f.exchange4(t, d)
	}
	if n := f.logs.FilterField(zap.String("event", "dhcp.unknown_client")).Len(); n != unknownBurst {
		t.Fatalf("%d lines for a flood, want %d", n, unknownBurst)
	}
	// The next window's first line says how many were left out.
	f.p.unknownLines.start = time.Now().Add(-2 * unknownWindow)
	d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x02, 1, 1, 1, 1, 1})
	f.exchange4(t, d)
	all := f.logs.FilterField(zap.String("event", "dhcp.unknown_client")).AllUntimed()
	if got := all[len(all)-1].ContextMap()["suppressed"]; got != int64(2*unknownBurst+1) {
		t.Fatalf("suppressed %v, want %d", got, 2*unknownBurst+1)
	}
}
