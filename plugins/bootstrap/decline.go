package bootstrap

import (
	"bytes"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/plugins/leases"
)

// Decline4 handles a DHCPDECLINE (RFC 2131 section 4.3.3): the client
// found the address it was given already in use on its link. The address
// is quarantined (leases.Options.DeclineHold) and the client gets another
// on its next DISCOVER. CoreDHCP drops DECLINE before any plugin sees it,
// so the server captures it beside CoreDHCP and hands it here.
//
// Only the client holding the lease can decline it, and only to us
// (option 54): anyone on the segment can send a DECLINE, and honouring a
// forged one would take an address away from the device using it.
func (p *Plugin) Decline4(req *dhcpv4.DHCPv4) {
	cfg := p.cfg.Load()
	if cfg.V4 == nil || p.v4 == nil || req.OpCode != dhcpv4.OpcodeBootRequest || req.MessageType() != dhcpv4.MessageTypeDecline {
		return
	}
	p.m.packets.WithLabelValues("v4", dhcpv4.MessageTypeDecline.String()).Inc()
	ip := addr4(req.RequestedIPAddress())
	client := leases.ClientID4(req.ClientHWAddr, req.Options.Get(dhcpv4.OptionClientIdentifier))
	if sid := req.ServerIdentifier(); sid == nil || !sid.Equal(cfg.V4.ServerID.AsSlice()) {
		p.debug("dhcpv4: DECLINE for another server, ignored", zap.Stringer("ip", ip), zap.String("client", client))
		return
	}
	relay := ""
	if g := addr4(req.GatewayIPAddr); g.IsValid() && !g.IsUnspecified() {
		relay = g.String()
	}
	p.decline(p.v4, client, ip, relay, zap.Stringer("mac", req.ClientHWAddr), zap.String("message", req.Message()))
}

// decline quarantines ip when client holds it and logs dhcp.decline;
// otherwise, unless ip is quarantined already (a retransmission), it logs
// the DECLINE as ignored. who identifies the client in both lines.
func (p *Plugin) decline(st *leases.Store, client string, ip netip.Addr, relay string, who ...zap.Field) {
	l, held := st.LookupClient(client)
	switch {
	case held && ip.IsValid() && l.IP == ip:
		if err := st.Decline(ip); err != nil {
			p.plog.Error("dhcp: declined address not recorded", zap.Stringer("ip", ip), zap.Error(err))
		}
		p.m.declines.Inc()
		p.log.Warn("dhcp.decline", append([]zap.Field{zap.String("event", "dhcp.decline"), zap.String("serial", l.Serial),
			zap.Stringer("ip", ip), zap.String("relay", relay),
			zap.String("reason", "the client found the address in use on its link; quarantined, it gets another")}, who...)...)
	case ip.IsValid() && st.Quarantined(ip):
	default:
		p.plog.Warn("dhcp: DECLINE of an address this client does not hold; ignored",
			append([]zap.Field{zap.String("event", "dhcp.decline_ignored"), zap.Stringer("ip", ip), zap.String("client", client)}, who...)...)
	}
}

// Decline6 handles a DHCPv6 Decline (RFC 8415 section 18.3.8), straight
// or inside Relay-forwards: each address the client holds and declines is
// quarantined, and the Reply it waits for is returned, as a Relay-reply
// for a relayed one (nil: send nothing). CoreDHCP drops
// Decline too; without the Reply ISC dhclient retransmits it for ever.
// The client must hold the address, as for DHCPv4. A retransmitted
// Decline of an address already quarantined is answered again, quietly.
func (p *Plugin) Decline6(req dhcpv6.DHCPv6) dhcpv6.DHCPv6 {
	cfg := p.cfg.Load()
	msg, err := req.GetInnerMessage()
	if err != nil || cfg.V6 == nil || p.v6 == nil || msg.Type() != dhcpv6.MessageTypeDecline {
		return nil
	}
	relay := ""
	if a := linkAddr(req); a.IsValid() {
		relay = a.String()
	}
	p.m.packets.WithLabelValues("v6", msg.Type().String()).Inc()
	duid := msg.Options.ClientID()
	sid := msg.Options.ServerID()
	if duid == nil || sid == nil || !bytes.Equal(sid.ToBytes(), cfg.V6.ServerDUID.ToBytes()) {
		p.debug("dhcpv6: Decline for another server, ignored")
		return nil
	}
	for i, ia := range msg.Options.IANA() {
		if i >= maxIANA { // as many as one message may lease (addresses6)
			break
		}
		client := leases.ClientID6(duid.ToBytes(), ia.IaId)
		for _, a := range ia.Options.Addresses() {
			ip, _ := netip.AddrFromSlice(a.IPv6Addr)
			p.decline(p.v6, client, ip, relay, zap.String("duid", duid.String()))
		}
	}
	reply := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: msg.TransactionID}
	reply.AddOption(dhcpv6.OptClientID(duid))
	reply.AddOption(dhcpv6.OptServerID(cfg.V6.ServerDUID))
	reply.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "declined"})
	if rm, ok := req.(*dhcpv6.RelayMessage); ok { // back through the relays
		out, err := dhcpv6.NewRelayReplFromRelayForw(rm, reply)
		if err != nil {
			return nil
		}
		return out
	}
	return reply
}
