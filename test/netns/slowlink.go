package netns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Shape is what a SlowLink does to the packets it carries, the same in both
// directions.
type Shape struct {
	// Delay is how long each packet is held, one way: 25ms gives a 50 ms
	// round trip.
	Delay time.Duration
	// Rate is the link's speed in bits per second: a packet leaves only
	// after the ones before it have been sent at this rate. 0: unlimited.
	Rate int64
	// Loss is the probability, 0 to 1, that a packet is dropped.
	Loss float64
	// Queue is how many packets one direction holds at once (in flight and
	// waiting for the rate together); a packet beyond it is dropped.
	// 0: DefaultQueue.
	Queue int
	// MTU of both devices. 0: 1500.
	MTU int
}

// DefaultQueue is the packets a direction holds when Shape.Queue is 0:
// 6 MB of full-size packets, more than a 1 Gbit/s link keeps in flight over
// a 25 ms one-way delay.
const DefaultQueue = 4096

// SlowLink joins two namespaces by a TUN device in each and a forwarder in
// this process that holds every packet for Shape.Delay before it writes it
// to the other side, in the order it was read: one thread per direction,
// at real-time priority when the process may (README.md has how close to
// the delay it stays). A TUN device has no MAC address: DHCP, ARP and
// anything else on layer 2 cannot run over it; give both ends static
// addresses.
type SlowLink struct {
	// A and B are the two ends; their Names are the devices'.
	A, B *Link
	// Shape is the shape asked for, defaults filled in.
	Shape Shape

	fds    [2]int // the TUN devices; -1 when closed
	stop   int    // eventfd that wakes the pipes on Close
	pipes  [2]*pipe
	done   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
	err    error
}

// NewSlowLink creates a TUN device in a's namespace and one in b's, assigns
// their addresses (CIDR, as Veth does: the prefix routes over the device),
// brings them up and starts forwarding. An empty Name gets a random one. The
// link runs until Close or until ctx is done; either removes both devices.
func NewSlowLink(ctx context.Context, a, b *Link, shape Shape) (*SlowLink, error) {
	if shape.Delay < 0 || shape.Rate < 0 || shape.Loss < 0 || shape.Loss > 1 || shape.Queue < 0 || shape.MTU < 0 {
		return nil, fmt.Errorf("slow link: bad shape %+v", shape)
	}
	if shape.Queue == 0 {
		shape.Queue = DefaultQueue
	}
	if shape.MTU == 0 {
		shape.MTU = 1500
	}
	s := &SlowLink{A: a, B: b, Shape: shape, done: make(chan struct{}), fds: [2]int{-1, -1}}
	var err error
	if s.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("slow link: eventfd: %w", err)
	}
	for i, l := range []*Link{a, b} {
		if l.Name == "" {
			l.Name = RandomName("tun")
		}
		if s.fds[i], err = openTUN(l.NS, l.Name); err == nil {
			err = configure(l, shape.MTU)
		}
		if err != nil {
			_ = s.closeFDs()
			return nil, err
		}
	}
	s.pipes[0] = newPipe(s.fds[0], s.fds[1], s.stop, shape)
	s.pipes[1] = newPipe(s.fds[1], s.fds[0], s.stop, shape)
	for _, p := range s.pipes {
		s.wg.Go(p.run)
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Close stops the forwarder and removes both devices (a TUN device lives as
// long as the file that created it). Packets still held are dropped.
func (s *SlowLink) Close() error {
	s.closed.Do(func() {
		close(s.done)
		// Wake both pipes from ppoll; the eventfd stays readable.
		_, _ = unix.Write(s.stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		s.wg.Wait()
		s.err = s.closeFDs()
	})
	return s.err
}

// Stats returns the counters of the a→b and b→a directions.
func (s *SlowLink) Stats() (ab, ba PipeStats) {
	return s.pipes[0].stats(), s.pipes[1].stats()
}

func (s *SlowLink) closeFDs() error {
	var errs []error
	for i, fd := range s.fds {
		if fd >= 0 {
			errs = append(errs, unix.Close(fd))
			s.fds[i] = -1
		}
	}
	return errors.Join(append(errs, unix.Close(s.stop))...)
}

// openTUN creates the layer-3 TUN device name (IFF_TUN, no packet
// information header: each read or write is one bare IPv4 or IPv6 packet)
// inside ns and returns the non-blocking file descriptor that holds it. The
// device is created in the namespace of the thread that asks, so the ioctl
// runs under ns.Do.
func openTUN(ns *NS, name string) (int, error) {
	fd := -1
	err := ns.Do(func() error {
		var err error
		// O_CLOEXEC: a copy in a child (every `ip` this package runs) would
		// keep the device alive after Close.
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("tun device %s: %w", name, err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("create tun device %s in %s: %w", name, ns.Name, err)
		}
		return nil
	})
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// configure sets the MTU and addresses of l's device and brings it up.
func configure(l *Link, mtu int) error {
	if err := l.NS.Run("ip", "link", "set", l.Name, "mtu", fmt.Sprint(mtu)); err != nil {
		return err
	}
	for _, addr := range l.Addrs {
		args := []string{"ip", "addr", "add", addr, "dev", l.Name}
		if strings.Contains(addr, ":") {
			args = append(args, "nodad") // as Veth: usable at once
		}
		if err := l.NS.Run(args...); err != nil {
			return err
		}
	}
	return l.NS.Run("ip", "link", "set", l.Name, "up")
}
