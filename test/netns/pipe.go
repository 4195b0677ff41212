package netns

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// PipeStats counts what one direction of a SlowLink did.
type PipeStats struct {
	// Forwarded packets were written to the other side.
	Forwarded int64
	// Lost packets were dropped by Shape.Loss.
	Lost int64
	// Overflow packets were dropped because Shape.Queue packets were held.
	Overflow int64
	// MaxLate is the most a packet was written after its release time:
	// how far the forwarder fell behind the delay it was asked for.
	MaxLate time.Duration
	// Late packets were written more than a millisecond after their
	// release time.
	Late int64
	// Realtime is true when the direction's thread runs under SCHED_FIFO,
	// ahead of every ordinary process on the machine.
	Realtime bool
}

// held is a packet waiting for its release time (CLOCK_MONOTONIC, ns).
type held struct {
	buf     []byte
	release int64
}

// maxBatch bounds the packets read in one go, so that a flood coming in
// never holds back packets that are due to go out.
const maxBatch = 64

// pipe forwards one direction with one goroutine on its own OS thread: it
// waits in ppoll for the source device to have packets or the oldest held
// packet to fall due, whichever is first; stamps each packet read with its
// release time and queues it; writes every packet that is due. Release
// times never decrease (the delay is fixed, the rate serialises), so the
// FIFO queue is ordered by release time and packets leave in the order they
// came. No goroutine per packet, no channel, no Go timer: the only wait is
// the kernel's, and the thread runs at real-time priority when allowed, so
// on a machine busy with other work the delay stays within a fraction of a
// millisecond of what was asked.
type pipe struct {
	from, to int // TUN file descriptors, non-blocking
	stop     int // eventfd, readable once the link is closing
	shape    Shape

	// Owned by run.
	q    []held // ring of held packets
	head int
	n    int
	free [][]byte
	busy int64 // when the link has sent every packet queued so far (Rate)

	forwarded, lost, overflow, maxLate, late atomic.Int64
	realtime                                 atomic.Bool
}

func newPipe(from, to, stop int, shape Shape) *pipe {
	return &pipe{from: from, to: to, stop: stop, shape: shape, q: make([]held, shape.Queue)}
}

// run forwards until the link closes or the source device goes away.
func (p *pipe) run() {
	p.lockThread()
	fds := []unix.PollFd{{Fd: int32(p.from), Events: unix.POLLIN}, {Fd: int32(p.stop), Events: unix.POLLIN}}
	for {
		if !p.readSome() {
			return
		}
		p.writeDue()
		var timeout *unix.Timespec // nil: nothing held, wait for a packet
		if p.n > 0 {
			ts := unix.NsecToTimespec(max(p.q[p.head].release-monotonic(), 0))
			timeout = &ts
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Ppoll(fds, timeout, nil); err != nil && err != unix.EINTR {
			return
		}
		if fds[1].Revents != 0 || fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return
		}
	}
}

// readSome queues up to maxBatch packets waiting on the source device. It
// returns false when the device is gone (EBADFD: it went with its
// namespace).
func (p *pipe) readSome() bool {
	for range maxBatch {
		buf := p.buffer()
		n, err := unix.Read(p.from, buf)
		switch {
		case err == unix.EAGAIN:
			p.free = append(p.free, buf)
			return true
		case err == unix.EINTR:
			p.free = append(p.free, buf)
			continue
		case err != nil:
			return false
		}
		p.hold(buf[:n], monotonic())
	}
	return true
}

// hold queues a packet read at now, or drops it (Loss, a full queue).
func (p *pipe) hold(pkt []byte, now int64) {
	if p.shape.Loss > 0 && rand.Float64() < p.shape.Loss {
		p.lost.Add(1)
		p.free = append(p.free, pkt[:cap(pkt)])
		return
	}
	if p.n == len(p.q) {
		p.overflow.Add(1)
		p.free = append(p.free, pkt[:cap(pkt)])
		return
	}
	sent := now
	if p.shape.Rate > 0 {
		sent = max(p.busy, now) + int64(len(pkt))*8*int64(time.Second)/p.shape.Rate
		p.busy = sent
	}
	p.q[(p.head+p.n)%len(p.q)] = held{buf: pkt, release: sent + int64(p.shape.Delay)}
	p.n++
}

// writeDue writes every held packet whose release time has come, oldest
// first.
func (p *pipe) writeDue() {
	for p.n > 0 {
		h := p.q[p.head]
		now := monotonic()
		if h.release > now {
			return
		}
		p.noteLate(now - h.release)
		// A write into a TUN device hands the packet to the namespace's
		// stack; it fails only when the device is gone.
		for {
			_, err := unix.Write(p.to, h.buf)
			if err == unix.EINTR {
				continue
			}
			if err == nil {
				p.forwarded.Add(1)
			}
			break
		}
		p.q[p.head] = held{}
		p.head = (p.head + 1) % len(p.q)
		p.n--
		p.free = append(p.free, h.buf[:cap(h.buf)])
	}
}

// buffer returns a free packet buffer of the MTU's size.
func (p *pipe) buffer() []byte {
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		return b
	}
	return make([]byte, p.shape.MTU)
}

// noteLate records how late a packet is about to be written.
func (p *pipe) noteLate(late int64) {
	if late > int64(time.Millisecond) {
		p.late.Add(1)
	}
	if late > p.maxLate.Load() {
		p.maxLate.Store(late) // run is maxLate's only writer
	}
}

// lockThread gives the calling goroutine its own OS thread for good (the
// thread is never unlocked, so the runtime discards it, real-time priority
// and all, when the goroutine ends) and asks for SCHED_FIFO on it; without
// the privilege the pipe runs at normal priority.
func (p *pipe) lockThread() {
	runtime.LockOSThread()
	attr := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_FIFO,
		Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
		Priority: 1, // above every SCHED_OTHER task; the kernel's own RT threads stay above
	}
	p.realtime.Store(unix.SchedSetAttr(0, &attr, 0) == nil)
}

// monotonic reads CLOCK_MONOTONIC, the clock ppoll's timeout runs on, in ns.
func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func (p *pipe) stats() PipeStats {
	return PipeStats{
		Forwarded: p.forwarded.Load(),
		Lost:      p.lost.Load(),
		Overflow:  p.overflow.Load(),
		MaxLate:   time.Duration(p.maxLate.Load()),
		Late:      p.late.Load(),
		Realtime:  p.realtime.Load(),
	}
}
