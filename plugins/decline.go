package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/mdlayher/packet"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// CoreDHCP drops DHCPDECLINE and DHCPv6 Decline before any plugin sees
// them ("Unhandled message type"), and a client that finds its address in
// use would then be given the same address again, forever. So sealboot
// also opens a packet socket on each DHCP interface whose kernel filter
// passes declines only, and hands them to the plugin.

// maxOptionsBeforeType bounds how many options the filter walks looking
// for option 53: clients put it first or nearly (busybox udhcpc, ISC
// dhclient first; Go's insomniacslk/dhcp sorts options by code).
const maxOptionsBeforeType = 16

// Filter programs are lists of bpf.Instruction, jump, and label strings:
// a jump names where it goes (keep, drop, or a label placed in the
// program), "" being the next instruction; assemble resolves them.
const (
	keep = "keep"
	drop = "drop"
)

type jump struct {
	ins     bpf.JumpIf
	yes, no string
}

func assemble(prog []any) ([]bpf.RawInstruction, error) {
	// Resolve labels to instruction indexes, then jumps to skips.
	at := map[string]int{}
	var out []bpf.Instruction
	var jumps []jump
	for _, p := range prog {
		switch v := p.(type) {
		case string:
			at[v] = len(out)
		case jump:
			jumps = append(jumps, v)
			out = append(out, nil) // filled below
		default:
			out = append(out, v.(bpf.Instruction))
		}
	}
	n := 0
	for i := range out {
		if out[i] != nil {
			continue
		}
		j := jumps[n]
		n++
		skip := func(label string) (uint8, error) {
			if label == "" {
				return 0, nil
			}
			d := at[label] - i - 1
			if d < 0 || d > 255 {
				return 0, fmt.Errorf("bpf filter: jump to %q out of range or to no label", label)
			}
			return uint8(d), nil
		}
		var err error
		if j.ins.SkipTrue, err = skip(j.yes); err != nil {
			return nil, err
		}
		if j.ins.SkipFalse, err = skip(j.no); err != nil {
			return nil, err
		}
		out[i] = j.ins
	}
	return bpf.Assemble(out)
}

// declineFilter passes unfragmented IPv4 UDP packets to port 67 holding a
// DHCP BOOTREQUEST with option 53 (message type) = 4 (DECLINE) among its
// first maxOptionsBeforeType options. Offsets are from the IP header
// (SOCK_DGRAM packet sockets); a load past the end of the packet drops it.
func declineFilter() ([]bpf.RawInstruction, error) {
	var prog []any
	check := func(load bpf.Instruction, cond bpf.JumpTest, val uint32) {
		prog = append(prog, load, jump{bpf.JumpIf{Cond: cond, Val: val}, "", drop})
	}
	check(bpf.LoadAbsolute{Off: 9, Size: 1}, bpf.JumpEqual, unix.IPPROTO_UDP)
	check(bpf.LoadAbsolute{Off: 6, Size: 2}, bpf.JumpBitsNotSet, 0x3fff) // no MF flag, no offset: not a fragment
	prog = append(prog, bpf.LoadMemShift{Off: 0})                        // X = IP header length
	check(bpf.LoadIndirect{Off: 2, Size: 2}, bpf.JumpEqual, 67)          // UDP destination port
	check(bpf.LoadIndirect{Off: 8, Size: 1}, bpf.JumpEqual, 1)           // BOOTREQUEST
	check(bpf.LoadIndirect{Off: 8 + 236, Size: 4}, bpf.JumpEqual, 0x63825363)
	// M[0] = offset of the option being looked at.
	prog = append(prog, bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8 + 240}, bpf.StoreScratch{Src: bpf.RegA, N: 0})
	for i := range maxOptionsBeforeType {
		next := fmt.Sprintf("option%d", i+1)
		pad := fmt.Sprintf("pad%d", i)
		prog = append(prog,
			bpf.LoadScratch{Dst: bpf.RegX, N: 0},
			bpf.LoadIndirect{Off: 0, Size: 1}, // option code
			jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 53}, "found", ""},
			jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 255}, drop, ""},
			jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, pad, ""},
			bpf.LoadIndirect{Off: 1, Size: 1}, // length
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2},
			bpf.ALUOpX{Op: bpf.ALUOpAdd},
			bpf.StoreScratch{Src: bpf.RegA, N: 0},
			jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, next, next}, // always
			pad,
			bpf.TXA{},
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1},
			bpf.StoreScratch{Src: bpf.RegA, N: 0},
			next,
		)
	}
	prog = append(prog, jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, drop, drop}, // not among them
		"found",
		bpf.LoadIndirect{Off: 1, Size: 1},
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1}, "", drop},
		bpf.LoadIndirect{Off: 2, Size: 1},
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(dhcpv4.MessageTypeDecline)}, keep, drop},
		keep, bpf.RetConstant{Val: 0xffff},
		drop, bpf.RetConstant{Val: 0})

	return assemble(prog)
}

// capture is what a family's DECLINE capture needs: the ethertype, the
// filter, and what to do with a packet it passes (an IP packet, read on
// the interface).
type capture struct {
	name   string // for the log: "DHCPDECLINE", "DHCPv6 Decline"
	proto  uint16
	filter func() ([]bpf.RawInstruction, error)
	handle func(pkt []byte, ifi *net.Interface)
}

// watchDeclines reads DECLINEs on the named interfaces until ctx is done.
// It fails only when no interface could be watched.
func watchDeclines(ctx context.Context, ifaces []string, c capture, log *zap.Logger) error {
	prog, err := c.filter()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range ifaces {
		ifi, err := net.InterfaceByName(name)
		var pc *packet.Conn
		if err == nil {
			// The filter is attached before bind, so no other packet is
			// ever queued on the socket.
			pc, err = packet.Listen(ifi, packet.Datagram, int(c.proto), &packet.Config{Filter: prog})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		go readDeclines(ctx, pc, ifi, c, log)
	}
	if len(errs) == len(ifaces) && len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(errs) > 0 {
		log.Warn(c.name+" not seen on some interfaces", zap.Error(errors.Join(errs...)))
	}
	return nil
}

func readDeclines(ctx context.Context, pc *packet.Conn, ifi *net.Interface, c capture, log *zap.Logger) {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn(c.name+" capture stopped", zap.String("interface", ifi.Name), zap.Error(err))
			}
			return
		}
		c.handle(buf[:n], ifi)
	}
}

// parseDecline takes the DHCP message out of an IPv4 packet the filter
// passed, checking the lengths the filter could not.
func parseDecline(pkt []byte) (*dhcpv4.DHCPv4, bool) {
	if len(pkt) < 20 {
		return nil, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 {
		return nil, false
	}
	udpLen := int(binary.BigEndian.Uint16(pkt[ihl+4:]))
	if udpLen < 8 || ihl+udpLen > len(pkt) {
		return nil, false
	}
	req, err := dhcpv4.FromBytes(pkt[ihl+8 : ihl+udpLen])
	if err != nil {
		return nil, false
	}
	return req, true
}

// declineFilter6 passes IPv6 UDP packets to port 547, with no extension
// headers (DHCPv6 clients and relays send none), holding a DHCPv6 Decline
// or a Relay-forward: the Decline inside one cannot be told apart in the
// kernel, so every relayed message is read and all but Declines dropped.
func declineFilter6() ([]bpf.RawInstruction, error) {
	return assemble([]any{
		bpf.LoadAbsolute{Off: 6, Size: 1}, // next header
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP}, "", drop},
		bpf.LoadAbsolute{Off: 40 + 2, Size: 2}, // UDP destination port
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 547}, "", drop},
		bpf.LoadAbsolute{Off: 48, Size: 1}, // message type
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(dhcpv6.MessageTypeDecline)}, keep, ""},
		jump{bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(dhcpv6.MessageTypeRelayForward)}, keep, drop},
		keep, bpf.RetConstant{Val: 0xffff},
		drop, bpf.RetConstant{Val: 0},
	})
}

// parseDecline6 takes the client's address and port and the DHCPv6
// message out of an IPv6 packet the filter passed.
func parseDecline6(pkt []byte) (from *net.UDPAddr, msg dhcpv6.DHCPv6, ok bool) {
	if len(pkt) < 48 {
		return nil, nil, false
	}
	udpLen := int(binary.BigEndian.Uint16(pkt[44:]))
	if udpLen < 8 || 40+udpLen > len(pkt) {
		return nil, nil, false
	}
	m, err := dhcpv6.FromBytes(pkt[48 : 40+udpLen])
	if err != nil {
		return nil, nil, false
	}
	return &net.UDPAddr{IP: net.IP(append([]byte{}, pkt[8:24]...)), Port: int(binary.BigEndian.Uint16(pkt[40:]))}, m, true
}

// answerDecline6 sends the Reply to a Decline: to a client on ifi from the
// server port, 547, on the interface's link-local address (CoreDHCP's
// sockets hold 547 on the multicast groups and the global addresses, not
// this one); to a relay, whose address may be off-link, from any port.
func answerDecline6(ifi *net.Interface, to *net.UDPAddr, reply dhcpv6.DHCPv6) error {
	if reply.IsRelay() {
		if to.IP.IsLinkLocalUnicast() {
			to.Zone = ifi.Name
		}
		c, err := net.DialUDP("udp6", nil, to)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(reply.ToBytes())
		return err
	}
	return replyFrom547(ifi, to, reply.ToBytes())
}

func replyFrom547(ifi *net.Interface, to *net.UDPAddr, data []byte) error {
	addrs, err := ifi.Addrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() != nil || !n.IP.IsLinkLocalUnicast() {
			continue
		}
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: n.IP, Port: 547, Zone: ifi.Name})
		if err != nil {
			return err
		}
		defer c.Close()
		to.Zone = ifi.Name
		_, err = c.WriteToUDP(data, to)
		return err
	}
	return fmt.Errorf("%s has no link-local address to answer from", ifi.Name)
}
