package bootstrap

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestUnknownClientLogged: a client with no serial, not answered, is one
// Info line (dhcp.unknown_client) per client however often it asks, in
// the per-packet log (which the caller rate-limits).
func TestUnknownClientLogged(t *testing.T) {
	t.Parallel()
	core, plogs := observer.New(zap.DebugLevel)
	f := newFixtureWith(t, testConfig(), Deps{PacketLog: zap.New(core)})
	for range 3 {
		if resp := f.exchange4(t, discover(dhcpv4.WithOption(dhcpv4.OptClassIdentifier("SomeVendor")))); resp != nil {
			t.Fatal("answered")
		}
	}
	other, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x02, 1, 1, 1, 1, 1})
	f.exchange4(t, other)
	lines := plogs.FilterField(zap.String("event", "dhcp.unknown_client")).AllUntimed()
	if len(lines) != 2 || lines[0].Level != zapcore.InfoLevel || lines[0].ContextMap()["mac"] != devMAC.String() ||
		lines[0].ContextMap()["family"] != "v4" || lines[1].ContextMap()["mac"] != "02:01:01:01:01:01" {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	if n := f.logs.FilterField(zap.String("event", "dhcp.unknown_client")).Len(); n != 0 {
		t.Fatalf("%d lines in the log that is not rate-limited", n)
	}
}
