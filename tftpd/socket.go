package tftpd

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxRequest is the largest request datagram served: RFC 1350's 512-byte
// data block plus its 4-byte header is the largest TFTP packet a client
// sends before blksize is agreed. pin/tftp reads requests into a buffer of
// this size and would parse the first 516 bytes of a longer one; the
// socket's filter drops those before pin/tftp sees them.
const maxRequest = 516

// udpHeader is what a UDP socket's filter sees ahead of the payload.
const udpHeader = 8

// socketOptions are what sealboot sets on a TFTP listening socket.
type socketOptions struct {
	receiveBuffer int // bytes; 0: the kernel's default
}

// socketResult is what the kernel granted.
type socketResult struct {
	receiveBuffer int  // as the kernel reports it (twice what was asked)
	forced        bool // SO_RCVBUFFORCE worked (CAP_NET_ADMIN); else capped by net.core.rmem_max
}

// configureSocket applies o to a listening socket: a receive buffer for
// bursts of requests (a whole POP powering up at once), and a filter that
// drops request datagrams longer than maxRequest.
func configureSocket(c net.PacketConn, o socketOptions) (socketResult, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return socketResult{}, fmt.Errorf("not a socket: %T", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return socketResult{}, err
	}
	prog, err := oversizeFilter()
	if err != nil {
		return socketResult{}, err
	}
	var res socketResult
	var serr error
	if err := rc.Control(func(fd uintptr) { res, serr = setSocket(int(fd), o, prog) }); err != nil {
		return res, err
	}
	return res, serr
}

func setSocket(fd int, o socketOptions, prog []unix.SockFilter) (socketResult, error) {
	var res socketResult
	if o.receiveBuffer > 0 {
		res.forced = true
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, o.receiveBuffer); err != nil {
			res.forced = false
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.receiveBuffer); err != nil {
				return res, fmt.Errorf("SO_RCVBUF: %w", err)
			}
		}
	}
	var err error
	if res.receiveBuffer, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return res, fmt.Errorf("SO_RCVBUF: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return res, fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return res, nil
}

// oversizeFilter is a classic BPF program for a UDP socket, which sees the
// UDP header and the payload: accept datagrams up to maxRequest bytes of
// payload, drop longer ones (counted in the socket's drops).
func oversizeFilter() ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: udpHeader + maxRequest, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// socketDrops returns the datagrams the kernel dropped on a socket: no room
// in its receive buffer, or refused by its filter (SO_MEMINFO).
func socketDrops(c net.PacketConn) (uint32, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("not a socket: %T", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var drops uint32
	var serr error
	err = rc.Control(func(fd uintptr) {
		var mem [unix.SK_MEMINFO_VARS]uint32
		size := uint32(len(mem) * 4)
		serr = getsockoptMeminfo(int(fd), &mem, &size)
		drops = mem[unix.SK_MEMINFO_DROPS]
	})
	if err != nil {
		return 0, err
	}
	return drops, serr
}

// getsockoptMeminfo reads SO_MEMINFO, which x/sys/unix has no helper for.
func getsockoptMeminfo(fd int, mem *[unix.SK_MEMINFO_VARS]uint32, size *uint32) error {
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(mem)), uintptr(unsafe.Pointer(size)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
