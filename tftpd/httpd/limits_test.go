package httpd

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// stalled starts a download of path from an address and never reads the
// body, with a tiny receive buffer: the server's writes block. It returns
// once the response has begun, and the connection.
func (h *harness) stalled(from netip.Addr, path string) net.Conn {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.DialContext(h.t.Context(), "tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		h.t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, " 200 ") {
		h.t.Fatalf("stalled download: %q %v", line, err)
	}
	return c
}

// sparse writes a sparse file (a hole: no disk, no hashing cost beyond
// reading zeros).
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func newBigHarness(t *testing.T, tweak func(*Config)) *harness {
	t.Helper()
	h := newHarness(t, tweak, nil)
	sparse(t, filepath.Join(h.imgDir, "big.bin"), 64<<20)
	h.waitImage("big.bin", 1)
	return h
}

// A reader that stops reading is cut by the rate deadline, and others are
// served meanwhile.
func TestSlowReaderCut(t *testing.T) {
	t.Parallel()
	h := newBigHarness(t, func(c *Config) {
		c.TransferGrace, c.MinRate, c.Window, c.MaxPerClient = 20*time.Millisecond, 1<<20, 64<<10, 1
	})
	c := h.stalled(addrSN2, "/images/big.bin")
	if resp, _, ev := h.get(addrSN1, "GET", "/SN1.enc", nil); resp.StatusCode != 200 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("another device while one stalls: %d %v", resp.StatusCode, ev)
	}
	ev := h.event(c.LocalAddr().String())
	if ev["outcome"] != fetch.OutcomeTimeout || !strings.Contains(ev["reason"].(string), "http.min_rate") ||
		ev["bytes"].(int64) >= 64<<20 || ev["serial"] != "SN2" || ev["image"] != true {
		t.Fatalf("stalled reader's event %v", ev)
	}
	// Its slot is free again (one per client here).
	resp, body, ev := h.get(addrSN2, "GET", "/images/big.bin", http.Header{"Range": {"bytes=0-1023"}})
	if resp.StatusCode != 206 || len(body) != 1024 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("after the cut: %d, %d bytes, %v", resp.StatusCode, len(body), ev)
	}
}

// Headers dribbled (slowloris) are cut at the header timeout, with an
// event each, while other clients are served.
func TestSlowlorisCut(t *testing.T) {
	t.Parallel()
	// 20 connections from one address: within twice max_per_client.
	h := newHarness(t, func(c *Config) { c.HeaderTimeout, c.MaxPerClient = 200*time.Millisecond, 10 }, nil)
	var conns []net.Conn
	for range 20 {
		c := h.dial(addrSN2)
		if _, err := io.WriteString(c, "GET /SN2.enc HTTP/1.1\r\nHost: x\r\nX-A"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if resp, _, ev := h.get(addrSN1, "GET", "/SN1.enc", nil); resp.StatusCode != 200 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("while 20 clients dribble headers: %d %v", resp.StatusCode, ev)
	}
	for _, c := range conns {
		if _, err := io.ReadAll(c); err != nil { // returns when the server closes it
			t.Fatal(err)
		}
		ev := h.event(c.LocalAddr().String())
		if ev["outcome"] != fetch.OutcomeTimeout || ev["file"] != "/SN2.enc" || ev["serial"] != "SN2" {
			t.Fatalf("slowloris event %v", ev)
		}
	}
}

// Over the per-client or the total cap, a request is refused at once:
// 503, Retry-After, outcome busy naming the device.
func TestBusy(t *testing.T) {
	t.Parallel()
	h := newBigHarness(t, func(c *Config) { c.MaxPerClient, c.MaxRequests, c.RetryAfter = 1, 2, 1500*time.Millisecond })
	h.stalled(addrSN1, "/images/big.bin")
	check := func(from netip.Addr, path, serial, why string) {
		t.Helper()
		resp, _, ev := h.get(from, "GET", path, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" ||
			ev["outcome"] != fetch.OutcomeBusy || ev["serial"] != serial || !strings.Contains(ev["reason"].(string), why) {
			t.Fatalf("%s from %s: %d %q %v", path, from, resp.StatusCode, resp.Header.Get("Retry-After"), ev)
		}
	}
	check(addrSN1, "/SN1.enc", "SN1", "http.max_per_client 1")
	check(addrSN1, "/images/big.bin", "SN1", "http.max_per_client 1")
	h.stalled(addrSN2, "/images/big.bin")
	check(addrLAB, "/LAB.enc", "LAB", "http.max_requests 2")
}

// A stop cuts transfers still running after the shutdown timeout, each
// with its event.
func TestShutdownAbortsTransfers(t *testing.T) {
	t.Parallel()
	h := newBigHarness(t, func(c *Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	c := h.stalled(addrSN1, "/images/big.bin")
	h.stop()
	ev := h.event(c.LocalAddr().String())
	if ev["outcome"] != fetch.OutcomeAborted || ev["reason"] != "sealboot stopped before the transfer ended" {
		t.Fatalf("event %v", ev)
	}
}

// A client that pipelines requests whose answers have no body (HEAD, or a
// 304 for If-None-Match) and never reads them is cut once the answers
// fill the socket: the headers net/http flushes after the handler go out
// within transfer_grace as a body's bytes do. The header and idle
// timeouts, an hour here, never apply to a connection stuck in a write.
func TestPipelinedHeadersNeverReadCut(t *testing.T) {
	t.Parallel()
	const grace = 100 * time.Millisecond
	h := newHarness(t, func(c *Config) {
		c.TransferGrace, c.HeaderTimeout, c.IdleTimeout = grace, time.Hour, time.Hour
	}, map[string]string{"os.bin": "IMAGE"})
	etag := `"` + hexSum("IMAGE") + `"`
	for _, tt := range []struct{ name, req string }{
		{"HEAD config", "HEAD /SN1.enc HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"HEAD image", "HEAD /images/os.bin HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"304 image", "GET /images/os.bin HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addrSN1.AsSlice()}, Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			c, err := d.DialContext(t.Context(), "tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Far more answers than the server's send buffer (4 MiB at
			// most) and ours hold; the writes block once the server does.
			go func() { _, _ = io.WriteString(c, strings.Repeat(tt.req, 5<<20/150)) }()
			h.waitClosed(t, time.Minute) // far below the hour of the other timeouts
		})
	}
}

// waitClosed waits until the server has no connection open, and fails
// after limit.
func (h *harness) waitClosed(t *testing.T, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for testutil.ToFloat64(h.s.m.conns) != 0 {
		select {
		case <-timeout:
			t.Fatalf("connection still open after %s", limit)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Connections are capped per client address (twice http.max_per_client):
// one address cannot hold thousands of idle connections (file
// descriptors, and ~20 KiB of memory each, until the header or idle
// timeout). One over the cap is closed at once with a busy event; other
// addresses are served meanwhile, and a freed place is taken again.
func TestConnectionsPerClientCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxPerClient, c.HeaderTimeout, c.IdleTimeout = 1, time.Hour, time.Hour }, nil)
	idle := []net.Conn{h.dial(addrSN2), h.dial(addrSN2)}
	for testutil.ToFloat64(h.s.m.conns) != 2 { // both accepted
		select {
		case <-t.Context().Done():
			t.Fatal("connections not accepted")
		case <-time.After(time.Millisecond):
		}
	}
	seen := h.eventCount()
	over := h.dial(addrSN2)
	_, _ = io.WriteString(over, "GET /SN2.enc HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(over), nil); err == nil {
		t.Fatalf("a connection over the cap was answered: %s", resp.Status)
	}
	ev := h.eventSince(over.LocalAddr().String(), seen)
	if ev["outcome"] != fetch.OutcomeBusy || ev["serial"] != "SN2" || !strings.Contains(ev["reason"].(string), "2 open connections from this client") {
		t.Fatalf("event %v", ev)
	}
	if resp, _, ev := h.get(addrSN1, "GET", "/SN1.enc", nil); resp.StatusCode != 200 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("another address: %d %v", resp.StatusCode, ev)
	}
	idle[0].Close()
	for testutil.ToFloat64(h.s.m.conns) != 1 {
		select {
		case <-t.Context().Done():
			t.Fatal("closed connection still counted")
		case <-time.After(time.Millisecond):
		}
	}
	if resp, _, ev := h.get(addrSN2, "GET", "/SN2.enc", nil); resp.StatusCode != 200 || ev["outcome"] != fetch.OutcomeServed {
		t.Fatalf("after one closed: %d %v", resp.StatusCode, ev)
	}
}
