package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// CoreDHCP drops DHCPDECLINE before any plugin sees it ("Unhandled message
// type"), and a client that finds its address in use would then be given
// the same address again, forever. So sealboot also opens a packet socket
// on each DHCPv4 interface whose kernel filter passes DECLINEs only, and
// hands them to the plugin.

// maxOptionsBeforeType bounds how many options the filter walks looking
// for option 53: clients put it first or nearly (busybox udhcpc, ISC
// dhclient first; Go's insomniacslk/dhcp sorts options by code).
const maxOptionsBeforeType = 16

// declineFilter passes unfragmented IPv4 UDP packets to port 67 holding a
// DHCP BOOTREQUEST with option 53 (message type) = 4 (DECLINE) among its
// first maxOptionsBeforeType options. Offsets are from the IP header
// (SOCK_DGRAM packet sockets); a load past the end of the packet drops it.
func declineFilter() ([]bpf.RawInstruction, error) {
	const (
		keep = "keep"
		drop = "drop"
	)
	type jump struct {
		ins     bpf.JumpIf
		yes, no string // labels; "" is the next instruction
	}
	var prog []any // bpf.Instruction, jump, or a label string
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
				return 0, fmt.Errorf("decline filter: jump to %s out of range", label)
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

// watchDeclines reads DECLINEs on the named interfaces until ctx is done
// and passes each to handle. It fails only when no interface could be
// watched.
func watchDeclines(ctx context.Context, ifaces []string, handle func(*dhcpv4.DHCPv4), log *zap.Logger) error {
	prog, err := declineFilter()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range ifaces {
		f, err := openDeclineSocket(name, prog)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		go readDeclines(ctx, f, handle, log)
	}
	if len(errs) == len(ifaces) && len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(errs) > 0 {
		log.Warn("DHCPDECLINE not seen on some interfaces", zap.Error(errors.Join(errs...)))
	}
	return nil
}

// openDeclineSocket opens a packet socket on the interface with the filter
// attached before it is bound, so no other packet is ever queued on it.
func openDeclineSocket(name string, prog []bpf.RawInstruction) (*os.File, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	return os.NewFile(uintptr(fd), "decline:"+name), nil // non-blocking: read through the poller
}

func readDeclines(ctx context.Context, f *os.File, handle func(*dhcpv4.DHCPv4), log *zap.Logger) {
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("DHCPDECLINE capture stopped", zap.String("socket", f.Name()), zap.Error(err))
			}
			return
		}
		if req, ok := parseDecline(buf[:n]); ok {
			handle(req)
		}
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

func htons(v uint16) uint16 { return v<<8 | v>>8 }
