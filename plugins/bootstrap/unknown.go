package bootstrap

import (
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
)

// Unknown clients' log line is rate-limited twice: once per client per
// relog (dedup), and at most unknownBurst lines per unknownWindow in all,
// so that a flood of made-up clients costs a line or two a second; the
// next line says how many were left out (suppressed).
const (
	unknownBurst  = 20
	unknownWindow = 10 * time.Second
)

// window counts lines in a fixed window.
type window struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// allow says whether a line may go out now, and how many were left out
// since the last one that did.
func (w *window) allow(now time.Time) (ok bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= unknownWindow {
		w.start, w.n = now, 0
	}
	if w.n >= unknownBurst {
		w.suppressed++
		return false, 0
	}
	w.n++
	suppressed, w.suppressed = w.suppressed, 0
	return true, suppressed
}

// unknownClient logs, at Info and rate-limited, a request from a client
// with no recognisable serial that is not answered (dhcp.serve_unknown is
// false): dhcp.unknown_client, with what the client says of itself.
func (p *Plugin) unknownClient(family, client string, id identity.Identity, relay netip.Addr, circuit string) {
	now := time.Now()
	if !p.dedup.changed(client, "unknown", now) {
		return
	}
	ok, suppressed := p.unknownLines.allow(now)
	if !ok {
		return
	}
	mac, relayStr := "", ""
	if id.MAC != nil {
		mac = id.MAC.String()
	}
	if relay.IsValid() && !relay.IsUnspecified() {
		relayStr = relay.String()
	}
	p.log.Info("dhcp: a client with no recognisable serial, not answered (dhcp.serve_unknown is false; name it in dhcp.inventory)",
		zap.String("event", "dhcp.unknown_client"), zap.String("family", family), zap.String("client", client), zap.String("mac", mac),
		zap.String("vendor", id.Vendor), zap.String("model", id.Model), zap.String("relay", relayStr), zap.String("circuit_id", circuit),
		zap.Int("suppressed", suppressed))
}
