package tftpd

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// slowReader acknowledges each block of a transfer only after delay, just
// inside the retransmission timeout, and returns when the server ends the
// transfer (an error packet) or the last block came.
func slowReader(t *testing.T, c *net.UDPConn, delay time.Duration) (blocks int, errText string) {
	t.Helper()
	buf := make([]byte, 600)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		switch binary.BigEndian.Uint16(buf) {
		case 5:
			return blocks, string(bytes.TrimRight(buf[4:n], "\x00"))
		case 3:
			blocks++
			if n < 516 {
				return blocks, ""
			}
			time.Sleep(delay)
			if _, err := c.WriteToUDP([]byte{0, 4, buf[2], buf[3]}, from); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A client that acknowledges just inside the retransmission timeout used to
// hold its slot for as long as it liked (issue: 64 addresses × 4 slow
// readers held all 256 slots). Below tftp.min_rate it is cut off, and the
// slot is free again.
func TestSlowReaderCutOff(t *testing.T) {
	t.Parallel()
	id := device(t, "SNS", keystore.P256)
	h := start(t, Config{Timeout: time.Second, MinRate: 4096, MinRateAfter: 100 * time.Millisecond}, fetch.Config{}, fakeCerts{"SNS": id}, nil)
	h.configs.set("SNS", sampleConfig)
	c := rrq(t, h.addr("udp4"), "SNS.enc")
	blocks, msg := slowReader(t, c, 300*time.Millisecond) // 512 bytes every 300 ms: ~1.7 KiB/s
	if msg == "" {
		t.Fatalf("a client at ~1.7 KiB/s against a 4 KiB/s floor got all %d blocks", blocks)
	}
	ev := h.waitEvents(1)
	if ev[0]["outcome"] != fetch.OutcomeTimeout || !strings.Contains(ev[0]["reason"].(string), "tftp.min_rate") {
		t.Fatalf("event %v, want timeout naming tftp.min_rate", ev[0])
	}
	if !strings.Contains(msg, "too slow") {
		t.Fatalf("client told %q", msg)
	}
	waitFor(t, "the slot to be free", func() bool { return h.metric("sealboot_tftp_transfers") == 0 })
}

// A client at a decent pace is served whatever the floor.
func TestPacedReaderServed(t *testing.T) {
	t.Parallel()
	id := device(t, "SNP", keystore.P256)
	h := start(t, Config{MinRate: 1024, MinRateAfter: time.Second, MaxTransferTime: time.Hour}, fetch.Config{}, fakeCerts{"SNP": id}, nil)
	h.configs.set("SNP", sampleConfig)
	data, err := get(t, h.addr("udp4"), "SNP.enc", 512)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := cms.Open(id.Key, data); err != nil || !bytes.Equal(plain, sampleConfig) {
		t.Fatalf("open: %v", err)
	}
}

func TestMaxTransferTime(t *testing.T) {
	t.Parallel()
	id := device(t, "SNM", keystore.P256)
	h := start(t, Config{Timeout: time.Second, MaxTransferTime: 50 * time.Millisecond}, fetch.Config{}, fakeCerts{"SNM": id}, nil)
	h.configs.set("SNM", sampleConfig)
	if _, msg := slowReader(t, rrq(t, h.addr("udp4"), "SNM.enc"), 30*time.Millisecond); msg == "" {
		t.Fatal("served past tftp.max_transfer_time")
	}
	ev := h.waitEvents(1)
	if ev[0]["outcome"] != fetch.OutcomeTimeout || !strings.Contains(ev[0]["reason"].(string), "tftp.max_transfer_time") {
		t.Fatalf("event %v", ev[0])
	}
}

// Under pressure (half of max_transfers in progress) a new transfer is
// retransmitted at most pressureRetries times, so a client that asks and
// never acknowledges frees its slot in seconds. Counted in packets, not
// time: the first data block arrives 1 + retries times.
func TestPressureShortensRetries(t *testing.T) {
	t.Parallel()
	id := device(t, "SNX", keystore.P256)
	h := start(t, Config{MaxTransfers: 2, MaxPerClient: 2, Timeout: 200 * time.Millisecond, Retries: 6}, fetch.Config{}, fakeCerts{"SNX": id}, nil)
	h.configs.set("SNX", sampleConfig)
	copies := func(c *net.UDPConn) int {
		buf := make([]byte, 600)
		n := 0
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
			switch binary.BigEndian.Uint16(buf) {
			case 3:
				n++
			case 5:
				return n
			}
		}
	}
	first := rrq(t, h.addr("udp4"), "SNX.enc")
	buf := make([]byte, 600)
	_ = first.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := first.Read(buf); err != nil { // admitted: one of two slots taken
		t.Fatal(err)
	}
	second := rrq(t, h.addr("udp6"), "SNX.enc")
	if n := copies(second); n > 1+pressureRetries {
		t.Fatalf("under pressure the first block went out %d times, want at most %d", n, 1+pressureRetries)
	}
	if n := 1 + copies(first); n != 1+6 {
		t.Fatalf("without pressure the first block went out %d times, want 7", n)
	}
}

// pin/tftp reads a request into 516 bytes and parses what fits: a longer
// datagram whose first 516 bytes parse used to be served. The socket's
// filter drops it, and counts it.
func TestOversizedRequestDropped(t *testing.T) {
	t.Parallel()
	id := device(t, "SNO", keystore.P256)
	h := start(t, Config{}, fetch.Config{}, fakeCerts{"SNO": id}, nil)
	h.configs.set("SNO", sampleConfig)
	server, _ := net.ResolveUDPAddr("udp", h.addr("udp4"))
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: server.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := append(binary.BigEndian.AppendUint16(nil, 1), "SNO.enc\x00octet\x00"...)
	long := append(pkt, bytes.Repeat([]byte("x"), 1000-len(pkt))...)
	if _, err := c.WriteTo(long, server); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the kernel to drop the long request", func() bool { return h.metric("sealboot_tftp_receive_dropped_total") == 1 })
	if _, err := get(t, h.addr("udp4"), "SNO.enc", 0); err != nil { // and the next one is served
		t.Fatal(err)
	}
	h.stop()
	if ev := h.events(); len(ev) != 1 {
		t.Fatalf("%d events, want only the normal request's: %v", len(ev), ev)
	}
}

// RFC 1350 and 2347: the mode and option names are case-insensitive.
// pin/tftp compared them as sent; TestRequestFields also guards the
// reflection that reaches them (pinrequest.go).
func TestRequestFields(t *testing.T) {
	t.Parallel()
	h := start(t, Config{}, fetch.Config{PlaintextSerials: []string{"LAB1"}}, fakeCerts{}, nil)
	h.configs.set("LAB1", []byte("line1\nline2\n"))
	server, _ := net.ResolveUDPAddr("udp", h.addr("udp4"))
	ask := func(mode string, opts ...string) (op uint16, payload []byte) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: server.IP})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pkt := append(binary.BigEndian.AppendUint16(nil, 1), "LAB1.enc\x00"+mode+"\x00"...)
		for _, o := range opts {
			pkt = append(append(pkt, o...), 0)
		}
		if _, err := c.WriteTo(pkt, server); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		op = binary.BigEndian.Uint16(buf)
		if op == 3 || op == 6 { // done with it: end the transfer (TFTP error 0)
			_, _ = c.WriteToUDP([]byte{0, 5, 0, 0, 'o', 'k', 0}, from)
		}
		return op, append([]byte(nil), buf[2:n]...)
	}
	// An OACK agreeing to blksize: 1024, or 512 when pin/tftp's lookup of
	// the interface's MTU fails (a netlink dump interrupted by links being
	// added elsewhere on the host). Before, no OACK at all: the option was
	// not recognised.
	if op, p := ask("OCTET", "BLKSIZE", "1024"); op != 6 || !bytes.HasPrefix(p, []byte("blksize\x00")) {
		t.Fatalf("BLKSIZE 1024: opcode %d %q, want an OACK with blksize", op, p)
	}
	if op, p := ask("NetAscii"); op != 3 || !bytes.Contains(p, []byte("line1\r\nline2\r\n")) {
		t.Fatalf("NetAscii: opcode %d %q, want data with CR LF line ends", op, p)
	}
	if op, _ := ask("mail"); op != 5 {
		t.Fatalf("mode mail: opcode %d, want an error", op)
	}
	ev := h.waitEvents(3)
	for _, e := range ev {
		if e["outcome"] == fetch.OutcomeNotFound && !strings.Contains(e["reason"].(string), `transfer mode "mail"`) {
			t.Errorf("refused for %q", e["reason"])
		}
	}
}

// The listening socket gets tftp.receive_buffer (forced as root, else
// capped by net.core.rmem_max): the kernel's default held a burst of ~600
// requests, and 1,359 of 2,000 were dropped.
func TestReceiveBuffer(t *testing.T) {
	t.Parallel()
	h := start(t, Config{ReceiveBuffer: 4 << 20}, fetch.Config{}, fakeCerts{}, nil)
	h.srv.tuning.Lock()
	defer h.srv.tuning.Unlock()
	for _, c := range h.srv.conns {
		rc, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var size int
		_ = rc.Control(func(fd uintptr) { size, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
		max := 4 << 20
		if unix.Geteuid() != 0 {
			max = 0 // capped: only check it was raised from nothing
		}
		if size < max || size == 0 {
			t.Errorf("%s: receive buffer %d bytes, want at least %d", c.LocalAddr(), size, max)
		}
	}
}

// tftp.timeout and tftp.retries reach the listeners on reload: they were
// set once at start, so a reload that logged "applied" kept the old ones.
func TestUpdateAppliesRetries(t *testing.T) {
	t.Parallel()
	id := device(t, "SNY", keystore.P256)
	h := start(t, Config{Timeout: time.Minute, Retries: 5}, fetch.Config{}, fakeCerts{"SNY": id}, nil)
	h.configs.set("SNY", sampleConfig)
	if err := h.srv.Update(Config{Timeout: 100 * time.Millisecond, Retries: 1}); err != nil {
		t.Fatal(err)
	}
	c := rrq(t, h.addr("udp4"), "SNY.enc")
	buf := make([]byte, 600)
	copies := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("after %d copies: %v (the reload's 100ms timeout was not applied)", copies, err)
		}
		if binary.BigEndian.Uint16(buf) == 5 {
			break
		}
		copies++
	}
	if copies != 2 {
		t.Fatalf("the first block went out %d times, want 2 (tftp.retries 1)", copies)
	}
}
