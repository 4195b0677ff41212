// Package bootstrap is sealboot's CoreDHCP plugin. For each request it
// identifies the device (package identity), leases it an address (package
// leases, which also records the serial ↔ MAC ↔ address binding the TFTP
// server checks), and tells it where its config is: for DHCPv4 siaddr, the
// BOOTP file field, options 66, 67 and 150 and, for Juniper, option 43;
// for DHCPv6 options 59 and 60. A recognised device gets its boot options
// even before its config or certificate exists (RFC 8886 section 4.3). A
// boot profile (profile.go) that matches a device changes them: a URL to
// the HTTP server instead of a TFTP name, an OS image for Juniper, extra
// options (options.go).
package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
	"github.com/sealboot/sealboot/plugins/leases"
)

// Config is what the plugin hands out; it can be replaced while running.
type Config struct {
	Bootfile     string // template; {serial} is replaced
	ServeUnknown bool   // lease addresses (without boot options) to unrecognised clients
	V4           *V4    // nil: no DHCPv4
	V6           *V6    // nil: no DHCPv6
	// HTTP is the built-in HTTP server, for profiles whose transport is
	// http.
	HTTP HTTP
	// SZTP is the SZTP bootstrap server, for DHCPv4 option 143 and DHCPv6
	// option 136.
	SZTP SZTP
	// Profiles say how the devices they match boot; the first match
	// wins, and a device matching none gets the plain boot options.
	Profiles []Profile
}

// V4 is the DHCPv4 side.
type V4 struct {
	ServerID   netip.Addr // our address: server identifier (option 54)
	TFTPServer netip.Addr // siaddr, options 66 and 150
	Direct     *Subnet    // for requests from the named interfaces (no giaddr)
	Relayed    []Subnet   // for relayed requests, chosen by giaddr
}

// Subnet is one IPv4 subnet's pool and options.
type Subnet struct {
	Network   netip.Prefix // contains the relay's giaddr (relayed subnets)
	Pool      leases.Pool
	Netmask   net.IPMask
	Router    netip.Addr // optional
	DNS       []netip.Addr
	LeaseTime time.Duration
}

// V6 is the DHCPv6 side (IA_NA). Pool, DNS and LeaseTime serve requests
// from the named interfaces; Relayed, relayed ones.
type V6 struct {
	ServerDUID     dhcpv6.DUID
	Pool           leases.Pool
	DNS            []netip.Addr
	TFTPServer     netip.Addr // in the option 59 URL
	BootfileParams []string   // option 60; empty: not sent
	LeaseTime      time.Duration
	// RapidCommit answers a Solicit that carries Rapid Commit with a
	// committed lease (RFC 8415 18.3.1). Off, such a Solicit gets an
	// Advertise like any other and the client Requests the one it
	// chooses: with two servers on a link, each would otherwise commit a
	// lease, and a binding, for every device, of which the device uses one.
	RapidCommit bool
	Relayed     []Subnet6 // chosen by the relay's link-address
	// OnLink reports whether an address is on one of the interfaces' own
	// links (their prefixes), for Confirm; nil: the pool is the link.
	OnLink func(netip.Addr) bool
}

// Subnet6 is one relayed IPv6 link's pool and options.
type Subnet6 struct {
	Network   netip.Prefix // contains the relay's link-address
	Pool      leases.Pool
	DNS       []netip.Addr
	LeaseTime time.Duration
}

// Validate checks what the plugin cannot work without.
func (c *Config) Validate() error {
	if c.Bootfile == "" || strings.Count(c.Bootfile, "{serial}") > 1 || strings.ContainsAny(c.Bootfile, "/\\ \x00") {
		return fmt.Errorf("dhcp.bootfile: invalid template %q", c.Bootfile)
	}
	if c.V4 != nil {
		if !c.V4.ServerID.Is4() || !c.V4.TFTPServer.Is4() {
			return fmt.Errorf("dhcp.v4.server_id: an IPv4 address is needed")
		}
		for _, s := range c.V4.subnets() {
			if s.LeaseTime <= 0 || len(s.Netmask) != net.IPv4len {
				return fmt.Errorf("dhcp.v4: subnet %s needs a netmask and a lease time", s.Pool)
			}
		}
	}
	if c.V6 != nil && (c.V6.ServerDUID == nil || !c.V6.TFTPServer.Is6() || c.V6.LeaseTime <= 0) {
		return fmt.Errorf("dhcp.v6: server DUID, TFTP server address and lease time are needed")
	}
	for i := range c.Profiles {
		if err := c.Profiles[i].validate(c.HTTP, c.SZTP); err != nil {
			return err
		}
	}
	if c.V6 != nil {
		for _, sub := range c.V6.Relayed {
			if !sub.Network.Addr().Is6() || sub.LeaseTime <= 0 || !sub.Network.Contains(sub.Pool.Start) || !sub.Network.Contains(sub.Pool.End) {
				return fmt.Errorf("dhcp.v6: subnet %s needs an IPv6 network holding its pool, and a lease time", sub.Pool)
			}
		}
	}
	return nil
}

// subnets lists every subnet, relayed and direct, in a slice of its own
// (appending to Relayed could write into the configuration's array).
func (v *V4) subnets() []Subnet {
	out := append(make([]Subnet, 0, len(v.Relayed)+1), v.Relayed...)
	if v.Direct != nil {
		out = append(out, *v.Direct)
	}
	return out
}

// Known says whether sealboot has a certificate or a config for a serial.
// Offers to known devices come first when a pool runs short (see package
// leases), and their events are not rate-limited as a stranger's are.
type Known interface {
	Known(serial string) bool
}

// Deps are what the plugin works with besides its configuration.
type Deps struct {
	V4, V6    *leases.Store      // nil when that side is off
	Inventory identity.Inventory // nil: none
	Known     Known              // nil: no device is known
	// PacketLog takes the lines a packet causes (refusals, drops, Debug
	// detail, events of unknown devices); the caller rate-limits it.
	// nil: the plugin's logger.
	PacketLog *zap.Logger
}

// Plugin holds the handlers' state; its methods are the CoreDHCP handlers.
type Plugin struct {
	cfg    atomic.Pointer[Config]
	v4     *leases.Store
	v6     *leases.Store
	inv    identity.Inventory
	known  Known
	log    *zap.Logger // state: events of known devices, declines
	plog   *zap.Logger // per packet, rate-limited by the caller
	m      *metrics
	dedup  *dedup
	chosen *chosen
	opts4  optCache
}

// New returns the plugin.
func New(cfg Config, deps Deps, log *zap.Logger, reg prometheus.Registerer) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plugin{v4: deps.V4, v6: deps.V6, inv: deps.Inventory, known: deps.Known, log: log, plog: deps.PacketLog,
		m: newMetrics(reg), dedup: &dedup{seen: map[string]seenEvent{}}, chosen: newChosen(10 * time.Second)}
	if p.plog == nil {
		p.plog = log
	}
	p.cfg.Store(&cfg)
	p.reserve(&cfg)
	if reg != nil {
		reg.MustRegister(newPoolCollector(p))
	}
	return p, nil
}

// Update replaces the configuration (reload); pools keep their leases.
func (p *Plugin) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.cfg.Store(&cfg)
	p.reserve(&cfg)
	return nil
}

// reserve keeps the server's own addresses and the routers out of the
// pools, should a pool include them.
func (p *Plugin) reserve(cfg *Config) {
	if cfg.V4 != nil && p.v4 != nil {
		addrs := []netip.Addr{cfg.V4.ServerID, cfg.V4.TFTPServer}
		for _, s := range cfg.V4.subnets() {
			addrs = append(addrs, s.Router)
		}
		p.v4.SetReserved(addrs...)
	}
	if cfg.V6 != nil && p.v6 != nil {
		p.v6.SetReserved(cfg.V6.TFTPServer)
	}
}

// withdraw frees the offer made to client, which took another server's.
func (p *Plugin) withdraw(store *leases.Store, family, client string) {
	if store.Withdraw(client) {
		p.m.withdrawn.WithLabelValues(family).Inc()
		p.debug("dhcp: the client requested another server's offer; ours is withdrawn", zap.String("family", family), zap.String("client", client))
	}
}

// Malformed counts a packet CoreDHCP could not parse.
func (p *Plugin) Malformed() { p.m.malformed.Inc() }

// isKnown asks Known about a recognised serial.
func (p *Plugin) isKnown(serial string) bool {
	return serial != "" && p.known != nil && p.known.Known(serial)
}

// noOffer logs why a request got no address, to the per-packet log.
func (p *Plugin) noOffer(msg string, pool leases.Pool, serial string, err error, who zap.Field) {
	if errors.Is(err, leases.ErrPoolExhausted) {
		p.m.exhausted.Inc()
	}
	p.plog.Warn(msg, zap.String("pool", pool.String()), zap.String("serial", serial), who, zap.Error(err))
}

// taken logs an offer that replaced another client's (see package leases).
func (p *Plugin) taken(r leases.Reservation, serial string, who zap.Field) {
	if r.Withdrawn != "" {
		p.plog.Warn("dhcp: this serial held the most offers allowed; its oldest offer is withdrawn for this client (a device on several ports, or someone sending its serial)",
			zap.String("serial", serial), who, zap.String("withdrawn_from", r.Withdrawn))
	}
	switch {
	case r.Taken == "":
	case r.Preempted:
		p.plog.Info("dhcp: pool full; offer of a device with no certificate or config given to a known device",
			zap.String("serial", serial), who, zap.Stringer("ip", r.IP), zap.String("taken_from", r.Taken), zap.String("taken_serial", r.TakenSerial))
	default:
		p.debug("dhcp: pool full; an offer past its short hold given to another client",
			zap.String("serial", serial), who, zap.Stringer("ip", r.IP), zap.String("taken_from", r.Taken))
	}
}

// bootfile renders the template for a device. Only {serial}: the TFTP
// server resolves names by serial, so a name with anything else in it
// could not be served (the configuration check refuses it).
func bootfile(tmpl string, id identity.Identity) string {
	return strings.ReplaceAll(tmpl, "{serial}", id.Serial)
}

type metrics struct {
	packets   *prometheus.CounterVec
	malformed prometheus.Counter
	naks      prometheus.Counter
	exhausted prometheus.Counter
	unknown   prometheus.Counter
	noSubnet  prometheus.Counter
	declines  prometheus.Counter
	notForUs  *prometheus.CounterVec
	withdrawn *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_dhcp_packets_total", Help: "DHCP requests handled, by family and message type.",
		}, []string{"family", "type"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_malformed_packets_total", Help: "Packets that were not valid DHCP, dropped.",
		}),
		naks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_naks_total", Help: "DHCPNAKs sent.",
		}),
		exhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_pool_exhausted_total", Help: "Requests that found no free address.",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_unknown_clients_total", Help: "Requests from clients with no recognisable serial.",
		}),
		declines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_declines_total", Help: "Addresses declined by the client holding them (found in use), quarantined.",
		}),
		noSubnet: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_dhcp_no_subnet_total", Help: "Relayed requests from a link no configured subnet covers, dropped.",
		}),
		notForUs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_dhcp_other_server_total",
			Help: "Requests for another server (their server identifier is not ours; for DHCPv6 also those whose type requires one and carries none, or forbids one and carries it), ignored.",
		}, []string{"family"}),
		withdrawn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_dhcp_offers_withdrawn_total",
			Help: "Offers freed before they expired because the client requested another server's (RFC 2131 4.3.2; two servers on one segment).",
		}, []string{"family"}),
	}
	// Every series from the start, at zero: the types clients send.
	for _, t := range []string{"DISCOVER", "REQUEST", "DECLINE", "RELEASE", "INFORM"} {
		m.packets.WithLabelValues("v4", t)
	}
	for _, t := range []string{"SOLICIT", "REQUEST", "CONFIRM", "RENEW", "REBIND", "RELEASE", "DECLINE", "INFORMATION-REQUEST"} {
		m.packets.WithLabelValues("v6", t)
	}
	m.notForUs.WithLabelValues("v4")
	m.notForUs.WithLabelValues("v6")
	m.withdrawn.WithLabelValues("v4")
	m.withdrawn.WithLabelValues("v6")
	if reg != nil {
		reg.MustRegister(m.packets, m.malformed, m.naks, m.exhausted, m.unknown, m.noSubnet, m.declines, m.notForUs, m.withdrawn)
	}
	return m
}

// dedup remembers the last event per client so that a device retrying
// DISCOVER every few seconds is logged once per state change.
type dedup struct {
	mu   sync.Mutex
	seen map[string]seenEvent
}

type seenEvent struct {
	key eventKey
	at  time.Time
}

// eventKey is what an event says of a client's state: the same again
// within relog is not logged.
type eventKey struct {
	name, file, serial, profile string
	ip                          netip.Addr
}

// relog is how often an unchanged state is logged again.
const relog = 10 * time.Minute

// changed says whether client's state is not key, or was logged more
// than within ago, and records it.
func (d *dedup) changed(client string, key eventKey, now time.Time, within time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.seen[client]; ok && s.key == key && now.Sub(s.at) < within {
		return false
	}
	if len(d.seen) > 100000 { // bound memory under a flood of random clients
		clear(d.seen)
	}
	d.seen[client] = seenEvent{key, now}
	return true
}

// knownEvery is how often a known serial's dhcp.offer (or dhcp.ack) may
// skip the rate limit: serials are no secret, and someone sending a known
// serial from made-up MACs would otherwise get unlimited lines.
const knownEvery = time.Second

// event logs dhcp.offer or dhcp.ack once per state change of a client: for
// a known device (at most one per serial, event and second), in the log;
// otherwise in the per-packet log, which is rate-limited.
func (p *Plugin) event(name string, known bool, client string, id identity.Identity, ip netip.Addr, file string, prof *Profile, relay netip.Addr, circuit string) {
	now := time.Now()
	if !p.dedup.changed(client, eventKey{name: name, ip: ip, file: file, serial: id.Serial, profile: profileName(prof)}, now, relog) {
		return
	}
	log := p.plog
	if known && p.dedup.changed("serial "+id.Serial+" "+name, eventKey{}, now, knownEvery) {
		log = p.log
	}
	mac := ""
	if id.MAC != nil {
		mac = id.MAC.String()
	}
	relayStr := ""
	if relay.IsValid() && !relay.IsUnspecified() {
		relayStr = relay.String()
	}
	log.Info(name, zap.String("event", name), zap.String("serial", id.Serial), zap.String("mac", mac),
		zap.String("ip", ip.String()), zap.String("bootfile", file), zap.String("vendor", id.Vendor), zap.String("model", id.Model),
		zap.String("source", id.Source), zap.String("profile", profileName(prof)), zap.String("relay", relayStr), zap.String("circuit_id", circuit))
}
