package bootstrap

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
	"github.com/sealboot/sealboot/plugins/leases"
)

// request4 is one DHCPv4 request being answered.
type request4 struct {
	cfg     *Config
	sub     *Subnet
	id      identity.Identity
	profile *Profile // nil: none matches
	known   bool     // see Known
	sztp    bool     // gets option 143
	client  string
	relay   netip.Addr
}

// Handle4 is the DHCPv4 handler. It answers DISCOVER, REQUEST, RELEASE
// and INFORM and always ends the chain.
func (p *Plugin) Handle4(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	mt := req.MessageType()
	p.m.packets.WithLabelValues("v4", mt.String()).Inc()
	cfg := p.cfg.Load()
	if cfg.V4 == nil || p.v4 == nil {
		return nil, true
	}
	relay, _ := netip.AddrFromSlice(req.GatewayIPAddr.To4())
	r := &request4{cfg: cfg, sub: cfg.V4.subnetFor(relay), relay: relay,
		client: leases.ClientID4(req.ClientHWAddr, req.Options.Get(dhcpv4.OptionClientIdentifier))}
	if r.sub == nil {
		p.m.noSubnet.Inc()
		p.debug("dhcpv4: no subnet for this request", zap.Stringer("relay", relay), zap.Stringer("mac", req.ClientHWAddr))
		return nil, true
	}
	r.id = p.identify4(req, r.client)
	r.profile = cfg.profileFor(r.id)
	r.known = p.isKnown(r.id.Serial)
	r.sztp = cfg.sztpFor(r.profile, requested4(req, OptionSZTPRedirect4))
	if r.id.Serial == "" && !cfg.ServeUnknown {
		p.m.unknown.Inc()
		p.debug("dhcpv4: ignoring a client with no recognisable serial (dhcp.serve_unknown is false)", zap.Stringer("mac", req.ClientHWAddr))
		p.unknownClient("v4", r.client, r.id, relay, circuitID(req))
		return nil, true
	}
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		return p.offer4(req, resp, r), true
	case dhcpv4.MessageTypeRequest:
		return p.ack4(req, resp, r), true
	case dhcpv4.MessageTypeRelease: // RFC 2131 4.3.4: no reply
		_ = p.v4.Release(r.client, addr4(req.ClientIPAddr))
		return nil, true
	case dhcpv4.MessageTypeInform: // RFC 2131 4.3.5: options, no lease
		resp.ClientIPAddr = req.ClientIPAddr
		p.fill4(resp, r, 0)
		return resp, true
	}
	return nil, true
}

// onNetwork says whether ip belongs to the request's network: the relayed
// subnet's, or for the direct one server_id's under the netmask.
func (r *request4) onNetwork(ip netip.Addr) bool {
	if r.sub.Network.IsValid() {
		return r.sub.Network.Contains(ip)
	}
	ones, bits := r.sub.Netmask.Size()
	return bits == 32 && netip.PrefixFrom(r.cfg.V4.ServerID, ones).Masked().Contains(ip)
}

// identify4 finds the serial; when the request carries none this time
// (Cisco IOS-XE alternates its client identifier), the serial its lease
// recorded is used.
func (p *Plugin) identify4(req *dhcpv4.DHCPv4, client string) identity.Identity {
	id := identity.FromDHCPv4(req, p.inv)
	if id.Serial == "" {
		if l, ok := p.v4.LookupClient(client); ok && l.Serial != "" && !l.Inventory {
			id.Serial, id.Source = l.Serial, "earlier request"
		}
	}
	return id
}

func (p *Plugin) offer4(req, resp *dhcpv4.DHCPv4, r *request4) *dhcpv4.DHCPv4 {
	if p.chosen.already(r.client, req.TransactionID, time.Now()) {
		p.debug("dhcpv4: DISCOVER of a transaction in which the client already requested another server's offer; no offer",
			zap.Stringer("mac", req.ClientHWAddr))
		return nil
	}
	res, err := p.v4.Reserve(r.sub.Pool, leases.OfferRequest{ClientID: r.client, Serial: r.id.Serial, Known: r.known,
		Requested: addr4(req.RequestedIPAddress())})
	if err != nil {
		p.noOffer("dhcpv4: no address to offer", r.sub.Pool, r.id.Serial, err, zap.Stringer("mac", req.ClientHWAddr))
		return nil
	}
	p.taken(res, r.id.Serial, zap.Stringer("mac", req.ClientHWAddr))
	resp.YourIPAddr = res.IP.AsSlice()
	file := p.fill4(resp, r, r.sub.LeaseTime)
	p.event("dhcp.offer", r.known, r.client, r.id, res.IP, file, r.profile, r.relay, circuitID(req))
	return resp
}

// ack4 answers a REQUEST (RFC 2131 4.3.2): in SELECTING state only when
// the client chose us; the address is option 50 or ciaddr.
func (p *Plugin) ack4(req, resp *dhcpv4.DHCPv4, r *request4) *dhcpv4.DHCPv4 {
	if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(r.cfg.V4.ServerID.AsSlice()) {
		// The client accepted another server's offer: say nothing, and
		// free the address we offered it (RFC 2131 4.3.2).
		p.m.notForUs.WithLabelValues("v4").Inc()
		p.chosen.elsewhere(r.client, req.TransactionID, time.Now())
		p.withdraw(p.v4, "v4", r.client)
		return nil
	}
	ip := addr4(req.RequestedIPAddress())
	ciaddr := addr4(req.ClientIPAddr)
	if ip.IsValid() && !ip.IsUnspecified() && (!ciaddr.IsValid() || ciaddr.IsUnspecified()) && req.ServerIdentifier() == nil {
		// INIT-REBOOT. A client we have no record of, asking for an
		// address that is right for its network, is another server's
		// (RFC 2131 4.3.2: remain silent); one on the wrong network is
		// told so below.
		if _, known := p.v4.LookupClient(r.client); !known && r.onNetwork(ip) {
			p.m.notForUs.WithLabelValues("v4").Inc()
			p.debug("dhcpv4: INIT-REBOOT from a client we have no record of; silent (RFC 2131 4.3.2)",
				zap.Stringer("mac", req.ClientHWAddr), zap.Stringer("ip", ip))
			return nil
		}
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = ciaddr
	}
	resp.ClientIPAddr = req.ClientIPAddr // RFC 2131 table 3: ciaddr from the REQUEST
	l, err := p.v4.Ack(r.sub.Pool, leases.Lease{IP: ip, ClientID: r.client, MAC: req.ClientHWAddr, Serial: r.id.Serial, Inventory: r.id.Source == identity.SourceInventory}, r.sub.LeaseTime)
	if errors.Is(err, leases.ErrNotAvailable) {
		return p.nak4(resp, r, ip, err)
	}
	if err != nil { // the journal could not be written: say nothing rather than promise
		p.plog.Error("dhcpv4: lease not recorded; not acknowledging", zap.Stringer("ip", ip), zap.Error(err))
		return nil
	}
	resp.YourIPAddr = l.IP.AsSlice()
	file := p.fill4(resp, r, r.sub.LeaseTime)
	p.event("dhcp.ack", r.known, r.client, r.id, l.IP, file, r.profile, r.relay, circuitID(req))
	return resp
}

func (p *Plugin) nak4(resp *dhcpv4.DHCPv4, r *request4, ip netip.Addr, err error) *dhcpv4.DHCPv4 {
	p.m.naks.Inc()
	p.plog.Info("dhcpv4: NAK", zap.String("event", "dhcp.nak"), zap.String("serial", r.id.Serial),
		zap.Stringer("mac", r.id.MAC), zap.Stringer("ip", ip), zap.Error(err))
	resp.YourIPAddr = net.IPv4zero
	resp.ClientIPAddr = net.IPv4zero // RFC 2131 table 3: 0 in a DHCPNAK
	resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
	resp.UpdateOption(dhcpv4.OptServerIdentifier(r.cfg.V4.ServerID.AsSlice()))
	return resp
}

// fill4 adds the subnet's options and, for a recognised device, its boot
// options and its profile's options; it returns the bootfile handed out
// (a URL for a profile whose transport is http). siaddr, the file field
// and options 66, 67 and 150 are all set whether or not the client asked
// for them: many boot ROMs read only siaddr and file.
func (p *Plugin) fill4(resp *dhcpv4.DHCPv4, r *request4, lease time.Duration) string {
	v4 := r.cfg.V4
	// siaddr is our own address unless a device is told of a TFTP server:
	// CoreDHCP sends a unicast reply to a client that has no address yet
	// (no broadcast flag) as a raw frame with siaddr as its IP source, so
	// without it an unknown client's OFFER came from 0.0.0.0.
	resp.ServerIPAddr = v4.ServerID.AsSlice()
	k := optKey4{sub: r.sub, lease: lease, sztp: r.sztp, profile: r.profile}
	if r.id.Serial != "" {
		k.file = bootfile(r.cfg.Bootfile, r.id)
		k.handed = k.file
		if r.profile != nil && r.profile.Transport == TransportHTTP {
			k.handed = r.cfg.HTTP.url(v4.TFTPServer, k.file)
		}
		k.juniper = r.id.Vendor == "juniper"
		resp.ServerIPAddr = v4.TFTPServer.AsSlice() // also the HTTP server of Juniper's option 43
		resp.BootFileName = ""
		if len(k.handed) < 128 { // the BOOTP file field: 128 bytes with its NUL
			resp.BootFileName = k.handed
		}
	}
	apply(resp, p.opts4.get(r.cfg, k, func(add func(dhcpv4.Option)) { options4(add, r.cfg, k) }))
	return k.handed
}

// options4 builds the options of an answer of shape k, in the order they
// apply (a later one replaces an earlier one with the same code).
func options4(add func(dhcpv4.Option), cfg *Config, k optKey4) {
	v4, sub := cfg.V4, k.sub
	add(dhcpv4.OptServerIdentifier(v4.ServerID.AsSlice()))
	add(dhcpv4.OptSubnetMask(sub.Netmask))
	if sub.Router.IsValid() {
		add(dhcpv4.OptRouter(sub.Router.AsSlice()))
	}
	if len(sub.DNS) > 0 {
		add(dhcpv4.OptDNS(ipSlices(sub.DNS)...))
	}
	if k.lease > 0 {
		add(dhcpv4.OptIPAddressLeaseTime(k.lease))
		add(dhcpv4.OptRenewTimeValue(k.lease / 2))
		add(dhcpv4.OptRebindingTimeValue(k.lease * 7 / 8))
	}
	if k.sztp { // any client that asks: the SZTP server authenticates devices itself
		add(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(OptionSZTPRedirect4), sztpRedirect(cfg.SZTP.uri(v4.TFTPServer))))
	}
	if k.handed == "" {
		return
	}
	add(dhcpv4.OptTFTPServerName(v4.TFTPServer.String()))
	add(dhcpv4.OptBootFileName(k.handed))
	add(dhcpv4.Option{Code: dhcpv4.OptionTFTPServerAddress, Value: dhcpv4.IPs{v4.TFTPServer.AsSlice()}})
	if k.juniper {
		add(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, juniperOption43(k.file, k.profile, cfg.HTTP)))
	}
	if k.profile != nil { // after the subnet's and the boot options: the profile's win
		for _, o := range k.profile.Options.v4() {
			add(o)
		}
	}
}

// juniperOption43 is Juniper's ZTP vendor-specific information: the image
// (sub-option 00, and 04), the config file name (01), the transfer mode
// (03: tftp, http or https) and, for HTTP on another port than 80, the
// port (05). Over HTTP the device fetches http://<option 150>[:<05>]/<01>
// and /<00>.
func juniperOption43(file string, prof *Profile, h HTTP) []byte {
	var out []byte
	add := func(code byte, v string) {
		out = append(append(out, code, byte(len(v))), v...)
	}
	if prof != nil && prof.Image != "" {
		add(0x00, imagePath(prof.Image))
	}
	add(0x01, file)
	if prof == nil || prof.Transport != TransportHTTP {
		add(0x03, "tftp")
		return out
	}
	add(0x03, h.Scheme)
	if prof.ImageAlt != "" {
		add(0x04, imagePath(prof.ImageAlt))
	}
	if h.Port != 0 && h.Port != 80 {
		add(0x05, strconv.Itoa(h.Port))
	}
	return out
}

// requested4 reports whether the client's parameter request list names
// code (a client that sends no list asks for nothing in particular).
func requested4(req *dhcpv4.DHCPv4, code uint8) bool {
	for _, c := range req.ParameterRequestList() {
		if c.Code() == code {
			return true
		}
	}
	return false
}

// subnetFor picks the subnet: the one whose network holds the relay's
// giaddr, or the direct one for requests from our own interfaces.
func (v *V4) subnetFor(relay netip.Addr) *Subnet {
	if !relay.IsValid() || relay.IsUnspecified() {
		return v.Direct
	}
	for i := range v.Relayed {
		if v.Relayed[i].Network.Contains(relay) {
			return &v.Relayed[i]
		}
	}
	return nil
}

// circuitID is option 82's circuit ID for the events: as text when it is
// printable ASCII, else "0x" and hex. Relays send text or binary (VLAN and
// port), and anyone on the segment can send option 82: its bytes must not
// reach a terminal (sealboot status prints the field) as they are.
func circuitID(req *dhcpv4.DHCPv4) string {
	ri := req.RelayAgentInfo()
	if ri == nil {
		return ""
	}
	c := ri.Get(dhcpv4.AgentCircuitIDSubOption)
	for _, b := range c {
		if b < 0x20 || b > 0x7e {
			return "0x" + hex.EncodeToString(c)
		}
	}
	return string(c)
}

func addr4(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}

func ipSlices(addrs []netip.Addr) []net.IP {
	out := make([]net.IP, len(addrs))
	for i, a := range addrs {
		out[i] = a.AsSlice()
	}
	return out
}

// debug writes per-packet detail, to the per-packet log.
func (p *Plugin) debug(msg string, fields ...zap.Field) {
	if ce := p.plog.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(fields...)
	}
}
