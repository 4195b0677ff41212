package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
	"github.com/sealboot/sealboot/plugins/bootstrap"
	"github.com/sealboot/sealboot/plugins/leases"
)

// Floods of the packets anyone on the segment can send, through the
// components as the wiring builds them: the lines written stay bounded,
// the rest are counted and summarised.

const floodFirst = 5 // lines of one message written per (test-long) tick

func randomMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	_, _ = rand.Read(m)
	m[0] = m[0]&^1 | 2
	return m
}

func madeUpSerial() dhcpv4.Modifier {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, append([]byte{0}, "FAKE"+hex.EncodeToString(b)...)))
}

// dhcpUnderFlood is the DHCP plugin with its logs built as buildComponents
// builds them, on a pool of 16 addresses.
func dhcpUnderFlood(t *testing.T) (*bootstrap.Plugin, *packetLogs, *observer.ObservedLogs) {
	t.Helper()
	pl, logs, _ := testPacketLogs(floodFirst, time.Hour) // summaries: at flush
	server := netip.MustParseAddr("192.0.2.1")
	pool, _ := leases.ParsePool("192.0.2.100-192.0.2.115")
	v4, _ := leases.Open(leases.Options{}, pl.logger(nil).Named("dhcp.leases"), nil)
	cfg := bootstrap.Config{Bootfile: "{serial}.enc", V4: &bootstrap.V4{ServerID: server, TFTPServer: server,
		Direct: &bootstrap.Subnet{Pool: pool, Netmask: net.CIDRMask(24, 32), LeaseTime: time.Hour}}}
	p, err := bootstrap.New(cfg, bootstrap.Deps{V4: v4, PacketLog: pl.logger(nil).Named("dhcp")}, pl.base.Named("dhcp"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return p, pl, logs
}

func handle4(p *bootstrap.Plugin, req *dhcpv4.DHCPv4) {
	req, _ = dhcpv4.FromBytes(req.ToBytes())
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	p.Handle4(req, resp)
}

func TestDHCPFloodLogsBounded(t *testing.T) {
	t.Parallel()
	server := net.IPv4(192, 0, 2, 1)
	tests := []struct {
		name   string
		packet func() *dhcpv4.DHCPv4
		msg    string // the line each packet logged
	}{
		{"DISCOVER, made-up serial, pool full", func() *dhcpv4.DHCPv4 {
			d, _ := dhcpv4.NewDiscovery(randomMAC(), madeUpSerial())
			return d
		}, "dhcpv4: no address to offer"},
		{"REQUEST for an address not ours", func() *dhcpv4.DHCPv4 {
			r, _ := dhcpv4.New(dhcpv4.WithHwAddr(randomMAC()), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), madeUpSerial(),
				dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 7))))
			return r
		}, "dhcpv4: NAK"},
		{"DISCOVER without a serial", func() *dhcpv4.DHCPv4 {
			d, _ := dhcpv4.NewDiscovery(randomMAC())
			return d
		}, "dhcpv4: ignoring a client with no recognisable serial (dhcp.serve_unknown is false)"},
		{"forged DECLINE", func() *dhcpv4.DHCPv4 {
			d, _ := dhcpv4.New(dhcpv4.WithHwAddr(randomMAC()), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 100))))
			return d
		}, "dhcp: DECLINE of an address this client does not hold; ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, pl, logs := dhcpUnderFlood(t)
			const n = 2000
			for range n {
				req := tt.packet()
				if req.MessageType() == dhcpv4.MessageTypeDecline {
					p.Decline4(req)
				} else {
					handle4(p, req)
				}
			}
			pl.flush()
			if got := logs.FilterMessage(tt.msg).Len(); got != floodFirst {
				t.Errorf("%d lines %q for %d packets, want %d", got, tt.msg, n, floodFirst)
			}
			// Everything else (the offers the flood got first, the
			// summaries) is bounded too.
			if total := logs.Len(); total > 4*floodFirst {
				t.Errorf("%d lines in all for %d packets:\n%v", total, n, messages(logs))
			}
			// The flood got the pool's 16 addresses first.
			want := int64(n - floodFirst)
			if tt.msg == "dhcpv4: no address to offer" {
				want -= 16
			}
			if s := suppressedTotal(logs, tt.msg); s != want {
				t.Errorf("summaries count %d lines %q, want %d", s, tt.msg, want)
			}
			if c := counterValue(t, pl.sup.counter.WithLabelValues("dhcp")); c == 0 {
				t.Error("sealboot_log_suppressed_total{logger=dhcp} did not rise")
			}
		})
	}
}

func messages(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		out = append(out, e.LoggerName+": "+e.Message)
	}
	return out
}

// TestTFTPFloodLogsBounded: a TFTP server on loopback built by
// buildComponents' wiring gets requests for made-up names, write requests
// and garbage; every refusal is still counted by outcome, the log holds a
// few lines of each and the summaries.
func TestTFTPFloodLogsBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.Load(config.Source{Data: fmt.Appendf(nil, "state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:0\"]\nlog:\n  level: debug\nadmin:\n  socket: \"off\"\n", dir)})
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareDirs(cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	st := newDeviceState(cfg)
	c, err := build(cfg, zap.New(core), st, packetLogging{Tick: time.Hour, First: floodFirst, Window: time.Hour}, forServe)
	if err != nil {
		t.Fatal(err)
	}
	addr := runComponents(t, c)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 1000
	for i := range n {
		_, _ = conn.WriteTo(fmt.Appendf(nil, "\x00\x01FAKE%06d.enc\x00octet\x00", i), addr)
		_, _ = conn.WriteTo(fmt.Appendf(nil, "\x00\x02upload%d\x00octet\x00", i), addr)
		_, _ = conn.WriteTo([]byte("\x00\x09garbage"), addr)
		if i%50 == 49 { // pace the sender to what the socket buffer holds
			waitMetric(t, c.reg, "sealboot_tftp_fetches_total", float64(2*(i+1)))
		}
	}
	waitMetric(t, c.reg, "sealboot_tftp_fetches_total", 2*n)
	c.flushLogs()
	// The per-device state saw every refusal the log left out. The
	// counter moves when a fetch ends; the state takes the event a moment
	// later, so wait for it to get there (or for the test's deadline).
	for {
		l := st.List(devices.Filter{})
		if l.Summary.Devices == n && l.Summary.Phases[devices.PhaseWaitingForConfig] == n && l.Summary.UnresolvedFetches.Total == n {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("device state: %d devices, %d waiting for config, %d unresolved fetches; want %d each",
				l.Summary.Devices, l.Summary.Phases[devices.PhaseWaitingForConfig], l.Summary.UnresolvedFetches.Total, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, msg := range []string{"tftp fetch not_found", "tftp fetch write_refused"} {
		if got := logs.FilterMessage(msg).Len(); got != floodFirst {
			t.Errorf("%d lines %q for %d requests, want %d", got, msg, n, floodFirst)
		}
		if s := suppressedTotal(logs, msg); s != n-floodFirst {
			t.Errorf("summaries count %d lines %q, want %d", s, msg, n-floodFirst)
		}
	}
	if total := logs.FilterLoggerName("tftpd").Len(); total > 6*floodFirst {
		t.Errorf("%d tftpd lines for %d requests:\n%v", total, 3*n, messages(logs))
	}
}

// runComponents runs c's tasks until the test ends and returns the TFTP
// server's address.
func runComponents(t *testing.T, c *components) net.Addr {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(c.tasks))
	t.Cleanup(func() {
		cancel()
		for range c.tasks {
			<-done
		}
	})
	var addr net.Addr
	for _, task := range c.tasks {
		go func() { _ = task.Component.Run(ctx); done <- struct{}{} }()
		<-task.Component.Ready()
		if s, ok := task.Component.(interface{ Addrs() []net.Addr }); ok {
			addr = s.Addrs()[0]
		}
	}
	return addr
}

// waitMetric waits until the sum of name's series reaches want.
func waitMetric(t *testing.T, reg prometheus.Gatherer, name string, want float64) {
	t.Helper()
	for {
		var got float64
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					got += m.GetCounter().GetValue()
				}
			}
		}
		if got >= want {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s = %v, want %v", name, got, want)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestHTTPImageFloodLogsBounded: any address may fetch an image, and HEAD
// on a kept-alive connection costs a client nothing, so past a few served
// events per address the events of image requests are rate-limited like
// refusals (one client wrote 28,000 lines a second before); other
// addresses still get theirs in full (a fleet downloading its images), and
// a served config's event is always written.
func TestHTTPImageFloodLogsBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.Load(config.Source{Data: fmt.Appendf(nil, "state_dir: %s\ntftp:\n  listen: [\"127.0.0.1:0\"]\n  plaintext_serials: [LAB1]\n"+
		"http:\n  listen: [\"127.0.0.1:0\"]\nwatch:\n  settle: 10ms\nlog:\n  level: debug\nadmin:\n  socket: \"off\"\n", dir)})
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareDirs(cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.ImagesDir, "os.bin"), []byte("IMAGE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.ConfigsDir, "LAB1.cfg"), []byte("hostname lab1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	c, err := build(cfg, zap.New(core), newDeviceState(cfg), packetLogging{Tick: time.Hour, First: floodFirst, Window: time.Hour}, forServe)
	if err != nil {
		t.Fatal(err)
	}
	runComponents(t, c)
	var addr string
	for _, task := range c.tasks {
		if s, ok := task.Component.(interface{ Addrs() []net.Addr }); ok && task.Name == "http" {
			addr = s.Addrs()[0].String()
		}
	}
	for logs.FilterMessage("image ready").Len() == 0 {
		select {
		case <-t.Context().Done():
			t.Fatal("image not hashed")
		case <-time.After(time.Millisecond):
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	const n = 500
	for range n {
		if _, err := io.WriteString(conn, "HEAD /images/os.bin HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HEAD: %v %v", resp, err)
		}
	}
	const perAddr = 4 // fetch.imageEventsPerAddr
	waitMetric(t, c.reg, "sealboot_http_fetches_total", n)
	waitMetric(t, c.reg, "sealboot_log_suppressed_total", n-perAddr-floodFirst)
	c.flushLogs()
	if got := logs.FilterMessage("http fetch served").Len(); got != perAddr+floodFirst {
		t.Errorf("%d lines for %d image requests, want %d", got, n, perAddr+floodFirst)
	}
	if s := suppressedTotal(logs, "http fetch served"); s != n-perAddr-floodFirst {
		t.Errorf("summaries count %d lines, want %d", s, n-perAddr-floodFirst)
	}
	// Other devices fetching the image have their events in full.
	for i := range 3 {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i))}
		dev, err := (&net.Dialer{LocalAddr: local}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(dev, "GET /images/os.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, dev)
		dev.Close()
		remote := local.IP.String() + ":"
		for {
			found := 0
			for _, e := range logs.FilterMessage("http fetch served").All() {
				if r, _ := e.ContextMap()["remote"].(string); strings.HasPrefix(r, remote) {
					found++
				}
			}
			if found == 1 {
				break
			}
			select {
			case <-t.Context().Done():
				t.Fatalf("device %s: %d served lines for its image fetch, want 1", local.IP, found)
			case <-time.After(time.Millisecond):
			}
		}
	}
	// A config served is written in full, whatever the images did.
	for i := range 2 * floodFirst {
		if _, err := io.WriteString(conn, "GET /LAB1.enc HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET config: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		waitMetric(t, c.reg, "sealboot_http_fetches_total", float64(n+3+i+1))
	}
	for {
		served := logs.FilterMessage("http fetch served").FilterField(zap.String("file", "/LAB1.enc")).Len()
		if served == 2*floodFirst {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%d config served lines for %d fetches", served, 2*floodFirst)
		case <-time.After(time.Millisecond):
		}
	}
}
