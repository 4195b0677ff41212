package device

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// conns shares one raw DHCPv4 socket among many emulated devices (Fleet),
// so that a thousand devices do not each read every packet on the link:
// one reader hands each reply to the device whose MAC is in chaddr.
type conns struct {
	raw    net.PacketConn
	mu     sync.Mutex
	byMAC  map[string]*vconn
	closed chan struct{}
}

func openConns(iface string) (*conns, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	pc, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IP, &packet.Config{Filter: dhcpClientFilter()})
	if err != nil {
		return nil, fmt.Errorf("raw socket on %s: %w", iface, err)
	}
	// One socket receives every device's replies: a fleet of a thousand
	// gets a thousand OFFERs at once, far beyond the default buffer, and a
	// reply dropped here would look like a slow server.
	if err := setReceiveBuffer(pc, 16<<20); err != nil {
		pc.Close()
		return nil, fmt.Errorf("raw socket on %s: %w", iface, err)
	}
	raw := nclient4.NewBroadcastUDPConn(pc, &net.UDPAddr{Port: 68}) // RFC 2131: client port 68
	c := &conns{raw: raw, byMAC: map[string]*vconn{}, closed: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *conns) read() {
	buf := make([]byte, 1<<16)
	for {
		n, addr, err := c.raw.ReadFrom(buf)
		if err != nil {
			close(c.closed)
			return
		}
		// BOOTP chaddr is at offset 28 (RFC 2131 section 2).
		if n < 34 || buf[0] != 2 {
			continue
		}
		c.mu.Lock()
		v := c.byMAC[string(buf[28:34])]
		c.mu.Unlock()
		if v != nil {
			pkt := append([]byte(nil), buf[:n]...)
			select {
			case v.in <- datagram{pkt, addr}:
			default: // the device is not reading: like a full socket buffer
			}
		}
	}
}

// dhcpClientFilter keeps only unfragmented IPv4 UDP to port 68, so the
// socket does not also receive every TFTP packet on the link.
func dhcpClientFilter() []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1},                        // IP protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 6}, // not UDP
		bpf.LoadAbsolute{Off: 6, Size: 2},                        // flags and fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
		bpf.LoadMemShift{Off: 0},          // X = IP header length
		bpf.LoadIndirect{Off: 2, Size: 2}, // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 68, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err) // a constant program
	}
	return prog
}

// Close closes the shared socket.
func (c *conns) Close() error { return c.raw.Close() }

func (c *conns) register(mac net.HardwareAddr) *vconn {
	v := &vconn{parent: c, mac: string(mac), in: make(chan datagram, 16), done: make(chan struct{})}
	c.mu.Lock()
	c.byMAC[v.mac] = v
	c.mu.Unlock()
	return v
}

type datagram struct {
	b    []byte
	addr net.Addr
}

// vconn is one device's view of the shared socket.
type vconn struct {
	parent *conns
	mac    string
	in     chan datagram
	done   chan struct{}
	once   sync.Once
}

func (v *vconn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-v.in:
		return copy(b, p.b), p.addr, nil
	case <-v.done:
		return 0, nil, net.ErrClosed
	case <-v.parent.closed:
		return 0, nil, net.ErrClosed
	}
}

func (v *vconn) WriteTo(b []byte, addr net.Addr) (int, error) { return v.parent.raw.WriteTo(b, addr) }

func (v *vconn) Close() error {
	v.once.Do(func() {
		close(v.done)
		v.parent.mu.Lock()
		if v.parent.byMAC[v.mac] == v {
			delete(v.parent.byMAC, v.mac)
		}
		v.parent.mu.Unlock()
	})
	return nil
}

func (v *vconn) LocalAddr() net.Addr              { return v.parent.raw.LocalAddr() }
func (v *vconn) SetDeadline(time.Time) error      { return nil }
func (v *vconn) SetReadDeadline(time.Time) error  { return nil }
func (v *vconn) SetWriteDeadline(time.Time) error { return nil }

// addAddress puts addr/prefix on the interface, as a device configures its
// lease, and returns a function that removes it again.
func addAddress(iface string, addr netip.Addr, prefix int) (func(), error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, err
	}
	bits := 32
	if addr.Is6() {
		bits = 128
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(prefix, bits)}}
	if addr.Is6() {
		a.Flags = 0x02 // IFA_F_NODAD: usable at once
	}
	if err := netlink.AddrAdd(link, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, err
	}
	return func() { _ = netlink.AddrDel(link, a) }, nil
}

// setReceiveBuffer sets pc's receive buffer, beyond net.core.rmem_max when
// we may (CAP_NET_ADMIN; the fleet runs as root).
func setReceiveBuffer(pc *packet.Conn, size int) error {
	rc, err := pc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
