package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	slowA = []string{"192.0.2.1/24", "2001:db8::1/64"}
	slowB = []string{"192.0.2.2/24", "2001:db8::2/64"}
)

// pingTimes runs ping in ns and returns the round trips it printed, in ms.
func pingTimes(t *testing.T, ns *NS, args ...string) []float64 {
	t.Helper()
	out, err := ns.Output(append([]string{"ping"}, args...)...)
	if err != nil && !strings.Contains(out, " received") {
		t.Fatalf("ping %v: %v", args, err)
	}
	var ms []float64
	for _, m := range regexp.MustCompile(`time=([0-9.]+) ms`).FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("ping output %q: %v", m[0], err)
		}
		ms = append(ms, v)
	}
	return ms
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestSlowLinkRoundTrip checks the harness's one promise: a ping across a
// link of delay D each way takes 2D, give or take the forwarder's and the
// scheduler's few ms, full-size packets and IPv6 included.
func TestSlowLinkRoundTrip(t *testing.T) {
	const delay = 25 * time.Millisecond
	s := SlowPair(t, slowA, slowB, Shape{Delay: delay})
	lo := float64(2 * delay / time.Millisecond)
	hi := lo + 15
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ipv4", []string{"-c20", "-i0.2", "-W2", "192.0.2.2"}},
		{"ipv6", []string{"-6", "-c20", "-i0.2", "-W2", "2001:db8::2"}},
		// 1472 + 8 (ICMP) + 20 (IPv4) = 1500, not fragmented (-M do).
		{"ipv4 1500 bytes", []string{"-c5", "-i0.2", "-W2", "-M", "do", "-s1472", "192.0.2.2"}},
		// 1452 + 8 + 40 (IPv6) = 1500.
		{"ipv6 1500 bytes", []string{"-6", "-c5", "-i0.2", "-W2", "-M", "do", "-s1452", "2001:db8::2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := pingTimes(t, s.A.NS, tc.args...)
			if len(ms) < 3 {
				t.Fatalf("ping %v: %d replies", tc.args, len(ms))
			}
			m := median(ms)
			t.Logf("%d replies, RTT min %.1f median %.1f max %.1f ms", len(ms), slices.Min(ms), m, slices.Max(ms))
			if m < lo || m > hi {
				t.Errorf("median RTT %.1f ms, want %.0f to %.0f", m, lo, hi)
			}
		})
	}
	ab, ba := s.Stats()
	t.Logf("a→b %+v, b→a %+v", ab, ba)
}

// TestSlowLinkTransports sends TCP and UDP both ways over IPv4 and IPv6: a
// TCP stream comes back intact; UDP datagrams arrive in the order sent.
func TestSlowLinkTransports(t *testing.T) {
	s := SlowPair(t, slowA, slowB, Shape{Delay: 5 * time.Millisecond})
	for _, tc := range []struct {
		name, network, server string
	}{
		{"tcp4", "tcp4", "192.0.2.2"},
		{"tcp6", "tcp6", "2001:db8::2"},
		{"udp4", "udp4", "192.0.2.2"},
		{"udp6", "udp6", "2001:db8::2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.network, "tcp") {
				tcpEcho(t, s, tc.network, tc.server)
			} else {
				udpInOrder(t, s, tc.network, tc.server)
			}
		})
	}
	ab, ba := s.Stats()
	t.Logf("a→b %+v, b→a %+v", ab, ba)
}

// tcpEcho sends 1 MiB from a to an echo server in b and checks what comes
// back.
func tcpEcho(t *testing.T, s *SlowLink, network, server string) {
	var ln net.Listener
	if err := s.B.NS.Do(func() (err error) {
		ln, err = net.Listen(network, net.JoinHostPort(server, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	var c net.Conn
	if err := s.A.NS.Do(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(t.Context(), network, ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := context.AfterFunc(t.Context(), func() { c.Close() })
	defer stop()
	sent := make([]byte, 1<<20)
	_, _ = rand.Read(sent)
	go func() {
		_, _ = c.Write(sent)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("echo: %d bytes back of %d, or different", len(got), len(sent))
	}
}

// udpInOrder sends numbered datagrams of 1400 bytes from a to b as fast as
// it can, then an end marker until b has it, and checks b saw the numbers
// rising: the forwarder may drop under overload, never reorder.
func udpInOrder(t *testing.T, s *SlowLink, network, server string) {
	const count = 1000
	var rc, sc net.PacketConn
	if err := s.B.NS.Do(func() (err error) {
		rc, err = net.ListenPacket(network, net.JoinHostPort(server, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_ = rc.(*net.UDPConn).SetReadBuffer(4 << 20)
	if err := s.A.NS.Do(func() (err error) {
		sc, err = net.ListenPacket(network, ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	stop := context.AfterFunc(t.Context(), func() { rc.Close() })
	defer stop()

	var seen []uint32
	var rerr error
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := rc.ReadFrom(buf)
			if err != nil {
				rerr = err
				return
			}
			seq := binary.BigEndian.Uint32(buf[:4])
			if seq == count {
				return
			}
			if n != 1400 {
				rerr = errors.New("short datagram " + strconv.Itoa(n))
				return
			}
			seen = append(seen, seq)
		}
	})
	msg := make([]byte, 1400)
	for i := range uint32(count + 1) {
		binary.BigEndian.PutUint32(msg, i)
		if _, err := sc.WriteTo(msg, rc.LocalAddr()); err != nil && i < count {
			t.Logf("send %d: %v", i, err) // ENOBUFS when the device's queue is full
		}
	}
	for resend := time.NewTicker(50 * time.Millisecond); ; {
		select {
		case <-done:
			resend.Stop()
			wg.Wait()
			if rerr != nil {
				t.Fatal(rerr)
			}
			checkRising(t, seen, count)
			return
		case <-resend.C: // the end marker was dropped: send it again
			_, _ = sc.WriteTo(msg[:4], rc.LocalAddr())
		}
	}
}

func checkRising(t *testing.T, seen []uint32, count int) {
	t.Helper()
	t.Logf("%d of %d datagrams arrived", len(seen), count)
	if len(seen) == 0 {
		t.Fatal("no datagram arrived")
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("datagram %d arrived after %d: reordered or duplicated", seen[i], seen[i-1])
		}
	}
}

// TestSlowLinkRate checks the rate limit: 256 KiB over TCP at 4 Mbit/s
// cannot take less than half a second (a lower bound, so no load can break
// it).
func TestSlowLinkRate(t *testing.T) {
	s := SlowPair(t, slowA, slowB, Shape{Delay: time.Millisecond, Rate: 4_000_000})
	start := time.Now()
	tcpEcho(t, s, "tcp4", "192.0.2.2") // 1 MiB each way: at least 2 s
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("1 MiB at 4 Mbit/s took %v", took)
	}
}

// TestSlowLinkLoss checks that Loss 1 drops everything and counts it.
func TestSlowLinkLoss(t *testing.T) {
	s := SlowPair(t, slowA, slowB, Shape{Loss: 1})
	if ms := pingTimes(t, s.A.NS, "-c2", "-i0.2", "-W1", "192.0.2.2"); len(ms) != 0 {
		t.Fatalf("%d replies over a link that loses every packet", len(ms))
	}
	if ab, _ := s.Stats(); ab.Lost < 2 || ab.Forwarded != 0 {
		t.Fatalf("a→b %+v, want 2 or more lost, none forwarded", ab)
	}
}

// TestSlowLinkCloseRemovesDevices checks that the devices go with Close,
// while the namespaces stay.
func TestSlowLinkCloseRemovesDevices(t *testing.T) {
	s := SlowPair(t, slowA, slowB, Shape{Delay: time.Millisecond})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Link{s.A, s.B} {
		if out, err := l.NS.Output("ip", "link", "show", "dev", l.Name); err == nil {
			t.Errorf("%s still in %s after Close: %s", l.Name, l.NS.Name, out)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSlowLinkCancel checks that cancelling the context closes the link.
func TestSlowLinkCancel(t *testing.T) {
	a := &Link{NS: New(t, "sbA"), Addrs: slowA[:1]}
	b := &Link{NS: New(t, "sbB"), Addrs: slowB[:1]}
	ctx, cancel := context.WithCancel(t.Context())
	s, err := NewSlowLink(ctx, a, b, Shape{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := a.NS.Output("ip", "link", "show", "dev", a.Name); err != nil {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("device still there after cancel")
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = s.Close()
}

func TestSlowLinkBadShape(t *testing.T) {
	for _, sh := range []Shape{{Delay: -1}, {Rate: -1}, {Loss: 1.5}, {Queue: -1}, {MTU: -1}} {
		if _, err := NewSlowLink(t.Context(), &Link{}, &Link{}, sh); err == nil {
			t.Errorf("%+v: no error", sh)
		}
	}
}
