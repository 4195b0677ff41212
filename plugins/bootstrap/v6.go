package bootstrap

import (
	"bytes"
	"errors"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/bootstrap/identity"
	"github.com/sealboot/sealboot/plugins/leases"
)

// Handle6 is the DHCPv6 handler (RFC 8415): IA_NA addresses from the pool,
// DNS, and for a recognised device the bootfile URL (option 59) and
// parameters (option 60). It always ends the chain.
func (p *Plugin) Handle6(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
	cfg := p.cfg.Load()
	msg, err := req.GetInnerMessage()
	out, ok := resp.(*dhcpv6.Message)
	if err != nil || !ok || cfg.V6 == nil || p.v6 == nil {
		return nil, true
	}
	p.m.packets.WithLabelValues("v6", msg.Type().String()).Inc()
	duid := msg.Options.ClientID()
	if duid == nil {
		return nil, true
	}
	if !forUs(msg, cfg.V6.ServerDUID) {
		p.m.notForUs.WithLabelValues("v6").Inc()
		if msg.Type() == dhcpv6.MessageTypeRequest && msg.Options.ServerID() != nil { // it took another server's Advertise
			for _, ia := range msg.Options.IANA() {
				p.withdraw(p.v6, "v6", leases.ClientID6(duid.ToBytes(), ia.IaId))
			}
		}
		p.debug("dhcpv6: discarding a message for another server, or without the Server Identifier its type requires (RFC 8415 section 16)",
			zap.Stringer("type", msg.Type()), zap.String("duid", duid.String()))
		return nil, true
	}
	relay := linkAddr(req)
	sub := cfg.V6.subnetFor(relay)
	if sub == nil {
		p.m.noSubnet.Inc()
		p.debug("dhcpv6: no subnet for this relayed request", zap.Stringer("link_address", relay), zap.String("duid", duid.String()))
		return nil, true
	}
	id := p.identify6(req, msg, duid)
	prof := cfg.profileFor(id)
	known := p.isKnown(id.Serial)
	if id.Serial == "" && !cfg.ServeUnknown {
		p.m.unknown.Inc()
		p.debug("dhcpv6: ignoring a client with no recognisable serial (dhcp.serve_unknown is false)", zap.String("duid", duid.String()))
		p.unknownClient("v6", duid.String(), id, relay, "")
		return nil, true
	}
	out.AddOption(dhcpv6.OptServerID(cfg.V6.ServerDUID))
	if out.Type() == dhcpv6.MessageTypeReply && msg.Type() == dhcpv6.MessageTypeSolicit && !cfg.V6.RapidCommit {
		out.MessageType = dhcpv6.MessageTypeAdvertise // RFC 8415 18.3.1: rapid commit is the server's choice
		out.Options.Del(dhcpv6.OptionRapidCommit)
	}
	switch msg.Type() {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind:
		p.addresses6(msg, out, sub, boot6{cfg, id, prof, false}, known, duid, relay, out.Type() == dhcpv6.MessageTypeAdvertise)
	case dhcpv6.MessageTypeConfirm: // RFC 8415 18.3.3: are the addresses still on link?
		st := confirmStatus(msg, sub, cfg.V6.OnLink)
		if st == nil {
			return nil, true // no addresses: no reply
		}
		out.AddOption(st)
	case dhcpv6.MessageTypeRelease: // RFC 8415 18.3.7
		p.release6(msg, duid)
		out.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "released"})
	case dhcpv6.MessageTypeInformationRequest:
	default:
		return nil, true
	}
	p.options6(out, sub, boot6{cfg, id, prof, cfg.sztpFor(prof, msg.Options.RequestedOptions().Contains(dhcpv6.OptionCode(OptionSZTPRedirect6)))})
	return out, true
}

// forUs applies RFC 8415 section 16: a Solicit, Confirm or Rebind names no
// server (any may answer); a Request, Renew, Decline or Release must name
// us; an Information-request may name us or none. Anything else is for
// another server on the link, and answering it would hand out addresses
// behind that server's back.
func forUs(msg *dhcpv6.Message, ours dhcpv6.DUID) bool {
	sid := msg.Options.ServerID()
	mine := sid != nil && bytes.Equal(sid.ToBytes(), ours.ToBytes())
	switch msg.Type() {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeConfirm, dhcpv6.MessageTypeRebind:
		return sid == nil
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeRelease:
		return mine
	case dhcpv6.MessageTypeInformationRequest:
		return sid == nil || mine
	}
	return true
}

// identify6 finds the serial, falling back to what an earlier lease of the
// same DUID recorded.
func (p *Plugin) identify6(req dhcpv6.DHCPv6, msg *dhcpv6.Message, duid dhcpv6.DUID) identity.Identity {
	// RFC 6939 option 79 comes from the first-hop relay: the innermost
	// Relay-forward, behind any relays further out.
	var mac net.HardwareAddr
	rm, ok := req.(*dhcpv6.RelayMessage)
	for hops := 0; ok && hops < 32; hops++ {
		if _, ll := rm.Options.ClientLinkLayerAddress(); ll != nil {
			mac = ll
		}
		rm, ok = rm.Options.RelayMessage().(*dhcpv6.RelayMessage)
	}
	id := identity.FromDHCPv6(msg, mac, p.inv)
	if id.Serial == "" {
		if ia := msg.Options.OneIANA(); ia != nil {
			if l, ok := p.v6.LookupClient(leases.ClientID6(duid.ToBytes(), ia.IaId)); ok && l.Serial != "" && !l.Inventory {
				id.Serial, id.Source = l.Serial, "earlier request"
			}
		}
	}
	return id
}

// maxIANA bounds the IA_NAs of one message that get an address (or are
// declined): each is a lease of its own, and one packet with a hundred of
// them took a pool. A booting device asks for one.
const maxIANA = 4

// errTooManyIAs answers the IA_NAs of a message past maxIANA.
var errTooManyIAs = errors.New("more IA_NAs in one message than are answered")

// addresses6 answers each IA_NA: an offer for a Solicit's Advertise, a
// lease otherwise (Request, Renew, Rebind, and Solicit with rapid commit).
func (p *Plugin) addresses6(msg, out *dhcpv6.Message, v6 *Subnet6, b boot6, known bool, duid dhcpv6.DUID, relay netip.Addr, advertise bool) {
	id := b.id
	for i, ia := range msg.Options.IANA() {
		if i >= maxIANA {
			out.AddOption(iaStatus(ia.IaId, msg.Type(), errTooManyIAs))
			continue
		}
		client := leases.ClientID6(duid.ToBytes(), ia.IaId)
		var hint netip.Addr
		if a := ia.Options.OneAddress(); a != nil {
			hint, _ = netip.AddrFromSlice(a.IPv6Addr)
		}
		res, err := p.v6.Reserve(v6.Pool, leases.OfferRequest{ClientID: client, Serial: id.Serial, Known: known, Requested: hint})
		ip := res.IP
		if err == nil {
			p.taken(res, id.Serial, zap.Stringer("duid", duid)) // encoded only if logged
		}
		if err == nil && !advertise {
			var l leases.Lease
			l, err = p.v6.Ack(v6.Pool, leases.Lease{IP: ip, ClientID: client, MAC: id.MAC, Serial: id.Serial, Inventory: id.Source == identity.SourceInventory}, v6.LeaseTime)
			ip = l.IP
		}
		if err != nil {
			out.AddOption(iaStatus(ia.IaId, msg.Type(), err))
			p.noOffer("dhcpv6: no address", v6.Pool, id.Serial, err, zap.Stringer("duid", duid))
			continue
		}
		addrs := dhcpv6.Options{&dhcpv6.OptIAAddress{IPv6Addr: ip.AsSlice(), PreferredLifetime: v6.LeaseTime, ValidLifetime: v6.LeaseTime}}
		if mt := msg.Type(); mt == dhcpv6.MessageTypeRenew || mt == dhcpv6.MessageTypeRebind {
			// An address the client renews but no longer gets (the pool
			// changed) goes back with lifetimes of 0, so the client stops
			// using it now rather than when it expires (RFC 8415 18.3.4).
			for _, a := range ia.Options.Addresses() {
				if old, _ := netip.AddrFromSlice(a.IPv6Addr); old != ip {
					addrs = append(addrs, &dhcpv6.OptIAAddress{IPv6Addr: a.IPv6Addr})
				}
			}
		}
		out.AddOption(&dhcpv6.OptIANA{
			IaId: ia.IaId, T1: v6.LeaseTime / 2, T2: v6.LeaseTime * 4 / 5,
			Options: dhcpv6.IdentityOptions{Options: addrs},
		})
		name := "dhcp.ack"
		if advertise {
			name = "dhcp.offer"
		}
		p.event(name, known, client, id, ip, b.url(), b.profile, relay, "")
	}
}

// boot6 is what a DHCPv6 reply tells a device about its config.
type boot6 struct {
	cfg     *Config
	id      identity.Identity
	profile *Profile // nil: none matches
	sztp    bool     // gets option 136
}

// url is option 59 (RFC 5970): tftp://[addr]/<file>, or the HTTP server's
// URL for a profile whose transport is http; "" for an unrecognised
// client.
func (b boot6) url() string {
	if b.id.Serial == "" {
		return ""
	}
	file := bootfile(b.cfg.Bootfile, b.id)
	if b.profile != nil && b.profile.Transport == TransportHTTP {
		return b.cfg.HTTP.url(b.cfg.V6.TFTPServer, file)
	}
	return "tftp://[" + b.cfg.V6.TFTPServer.String() + "]/" + file
}

// iaStatus reports why an IA_NA got no address: NoAddrsAvail for a new
// address, NoBinding for a renewal of one we do not hold (RFC 8415 18.3.4).
func iaStatus(iaid [4]byte, mt dhcpv6.MessageType, err error) dhcpv6.Option {
	code := uint16(2) // NoAddrsAvail
	if (mt == dhcpv6.MessageTypeRenew || mt == dhcpv6.MessageTypeRebind) && errors.Is(err, leases.ErrNotAvailable) {
		code = 3 // NoBinding
	}
	return &dhcpv6.OptIANA{IaId: iaid, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{
		&dhcpv6.OptStatusCode{StatusCode: statusCode(code), StatusMessage: "no address available"},
	}}}
}

func (p *Plugin) release6(msg *dhcpv6.Message, duid dhcpv6.DUID) {
	for _, ia := range msg.Options.IANA() {
		client := leases.ClientID6(duid.ToBytes(), ia.IaId)
		for _, a := range ia.Options.Addresses() {
			ip, _ := netip.AddrFromSlice(a.IPv6Addr)
			_ = p.v6.Release(client, ip)
		}
	}
}

func confirmStatus(msg *dhcpv6.Message, sub *Subnet6, direct func(netip.Addr) bool) dhcpv6.Option {
	seen := false
	for _, ia := range msg.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			seen = true
			if ip, _ := netip.AddrFromSlice(a.IPv6Addr); !sub.onLink(ip, direct) {
				return &dhcpv6.OptStatusCode{StatusCode: statusCode(4), StatusMessage: "not on link"}
			}
		}
	}
	if !seen {
		return nil
	}
	return &dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "on link"}
}

// options6 adds DNS and, for a recognised device, the bootfile URL and
// its parameters (RFC 5970), then the options of its profile, which
// replace the subnet's of the same code.
func (p *Plugin) options6(out *dhcpv6.Message, sub *Subnet6, b boot6) {
	if len(sub.DNS) > 0 {
		out.AddOption(dhcpv6.OptDNS(ipSlices(sub.DNS)...))
	}
	if b.sztp { // RFC 8572 section 8.2
		out.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionCode(OptionSZTPRedirect6), OptionData: sztpRedirect(b.cfg.SZTP.uri(b.cfg.V6.TFTPServer))})
	}
	if b.id.Serial == "" {
		return
	}
	out.AddOption(dhcpv6.OptBootFileURL(b.url()))
	if len(b.cfg.V6.BootfileParams) > 0 {
		out.AddOption(dhcpv6.OptBootFileParam(b.cfg.V6.BootfileParams...))
	}
	if b.profile != nil {
		for _, o := range b.profile.Options.v6() {
			out.UpdateOption(o)
		}
	}
}

// statusCode converts a numeric RFC 8415 status code.
func statusCode(c uint16) iana.StatusCode { return iana.StatusCode(c) }

// linkAddr is the address that identifies the client's link in a relayed
// request (RFC 8415 section 13.1): the link-address of the relay nearest
// the client, or of the next one out when that is a lightweight relay
// (RFC 6221), which leaves it unspecified. Zero for a request that was
// not relayed.
func linkAddr(req dhcpv6.DHCPv6) netip.Addr {
	var chain []*dhcpv6.RelayMessage
	for rm, ok := req.(*dhcpv6.RelayMessage); ok && len(chain) < 32; rm, ok = rm.Options.RelayMessage().(*dhcpv6.RelayMessage) {
		chain = append(chain, rm) // outermost first; RFC 8415 caps relays at 32
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if a, ok := netip.AddrFromSlice(chain[i].LinkAddr); ok && !a.IsUnspecified() {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// subnetFor picks the pool: the relayed subnet whose network holds the
// link-address, or the interfaces' own pool for a request not relayed.
// Nil for a relayed request no subnet covers.
func (v *V6) subnetFor(link netip.Addr) *Subnet6 {
	if !link.IsValid() {
		return &Subnet6{Pool: v.Pool, DNS: v.DNS, LeaseTime: v.LeaseTime}
	}
	for i := range v.Relayed {
		if v.Relayed[i].Network.Contains(link) {
			return &v.Relayed[i]
		}
	}
	return nil
}

// onLink says whether ip belongs to the subnet's link: its network for a
// relayed subnet; for the interfaces' own, their prefixes (direct) or the
// pool.
func (s *Subnet6) onLink(ip netip.Addr, direct func(netip.Addr) bool) bool {
	if s.Network.IsValid() {
		return s.Network.Contains(ip)
	}
	return s.Pool.Contains(ip) || direct != nil && direct(ip)
}
