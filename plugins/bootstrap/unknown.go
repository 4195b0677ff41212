package bootstrap

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
)

// unknownClient logs a request from a client with no recognisable serial
// that is not answered (dhcp.serve_unknown is false): dhcp.unknown_client
// at Info, with what the client says of itself, once per client per relog,
// in the per-packet log (rate-limited by the caller, as every line a
// packet can cause).
func (p *Plugin) unknownClient(family, client string, id identity.Identity, relay netip.Addr, circuit string) {
	if !p.dedup.changed(client, eventKey{name: "unknown"}, time.Now(), relog) {
		return
	}
	mac, relayStr := "", ""
	if id.MAC != nil {
		mac = id.MAC.String()
	}
	if relay.IsValid() && !relay.IsUnspecified() {
		relayStr = relay.String()
	}
	p.plog.Info("dhcp: a client with no recognisable serial, not answered (dhcp.serve_unknown is false; name it in dhcp.inventory)",
		zap.String("event", "dhcp.unknown_client"), zap.String("family", family), zap.String("client", client), zap.String("mac", mac),
		zap.String("vendor", id.Vendor), zap.String("model", id.Model), zap.String("relay", relayStr), zap.String("circuit_id", circuit))
}
