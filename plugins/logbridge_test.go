package plugins

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestCoreDHCPLinesCountedAndFixed: packets CoreDHCP drops before any
// plugin sees them, sent to a CoreDHCP listener on loopback: those that
// are not valid DHCP (among them a Relay-forward without a Relay Message,
// which CoreDHCP logged as a Warn per packet) are counted as malformed and
// logged at Debug under CoreDHCP's fixed text, so that the caller's
// per-message rate limit holds them (here zap's sampler, as the wiring).
func TestCoreDHCPLinesCountedAndFixed(t *testing.T) {
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	addr := *pc.LocalAddr().(*net.UDPAddr)
	pc.Close()
	core, logs := observer.New(zap.DebugLevel)
	var seen, dropped atomic.Int64 // lines about the packets sent
	sampled := zapcore.NewSamplerWithOptions(core, time.Hour, 3, 0, zapcore.SamplerHook(func(e zapcore.Entry, d zapcore.SamplingDecision) {
		if strings.HasPrefix(e.Message, "DHCPv6: cannot get inner message") || strings.HasPrefix(e.Message, "Error parsing DHCPv6 request") {
			seen.Add(1)
		}
		if d&zapcore.LogDropped != 0 {
			dropped.Add(1)
		}
	}))
	var malformed atomic.Int64
	remove := bridgeLogs(zap.New(sampled), func() { malformed.Add(1) })
	defer remove()
	var handled atomic.Int64
	srv, err := startCoreDHCP(nil, nil, []handler.Handler6{func(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
		handled.Add(1)
		return nil, true
	}}, []net.UDPAddr{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.DialUDP("udp6", nil, &addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	noRelayMessage := make([]byte, 34) // msg-type, hop-count, link-address, peer-address; no options
	noRelayMessage[0] = byte(dhcpv6.MessageTypeRelayForward)
	const n = 500
	for i := range n {
		_, _ = c.Write(noRelayMessage)
		_, _ = c.Write([]byte{1, 2, 3}) // too short to parse
		if i%50 == 49 {
			waitCount(t, &seen, int64(2*(i+1)))
		}
	}
	waitCount(t, &seen, 2*n)
	if malformed.Load() != 2*n {
		t.Fatalf("%d packets counted as malformed, want %d", malformed.Load(), 2*n)
	}
	if handled.Load() != 0 {
		t.Fatalf("the handler saw %d of them", handled.Load())
	}
	for _, msg := range []string{"DHCPv6: cannot get inner message", "Error parsing DHCPv6 request"} {
		lines := logs.FilterMessage(msg).All()
		if len(lines) != 3 || lines[0].Level != zapcore.DebugLevel || lines[0].ContextMap()["detail"] == "" {
			t.Errorf("%q: %d lines, first %+v", msg, len(lines), lines)
		}
	}
	if dropped.Load() != 2*n-6 {
		t.Fatalf("%d lines dropped of %d", dropped.Load(), 2*n)
	}
}

func waitCount(t *testing.T, c *atomic.Int64, want int64) {
	t.Helper()
	for c.Load() < want {
		select {
		case <-t.Context().Done():
			t.Fatalf("count %d, want %d", c.Load(), want)
		case <-time.After(time.Millisecond):
		}
	}
}
