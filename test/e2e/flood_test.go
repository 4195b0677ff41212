package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/netns"
)

// Floods from someone on the provisioning segment: DISCOVERs with made-up
// serials, and the packets that used to cost one log line each.

// floodConn opens a UDP socket in ns, bound to laddr and, when dev is not
// empty, to that interface with broadcast allowed (a sender with no
// address, as a DHCP client).
func floodConn(t *testing.T, ns *netns.NS, network, laddr, dev string) net.PacketConn {
	t.Helper()
	var c net.PacketConn
	err := ns.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if dev != "" {
					serr = unix.BindToDevice(int(fd), dev)
				}
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		c, err = lc.ListenPacket(context.Background(), network, laddr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// madeUpDiscover is a DISCOVER from a random MAC carrying a random, valid
// serial in option 61 (0x00 + serial, as Cisco NX-OS).
func madeUpDiscover() []byte {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&^1 | 2
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	d, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, append([]byte{0}, "FAKE"+hex.EncodeToString(b)...))))
	return d.ToBytes()
}

// flood sends packets made by next to to, about rate a second, until ctx
// is done; it returns how many it sent.
func flood(ctx context.Context, c net.PacketConn, to net.Addr, rate int, next func(i int) []byte) int {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		for range max(rate/100, 1) {
			_, _ = c.WriteTo(next(n), to)
			n++
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

// TestDiscoverFloodKnownDeviceGetsOffer: DISCOVERs from random MACs with
// made-up serials keep the pool drained; busybox udhcpc presenting a serial
// the keystore knows still gets an OFFER and its lease, during the flood.
func TestDiscoverFloodKnownDeviceGetsOffer(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	s := l.start(l.config(""))
	l.provision(t, s, "FDO2134KNOWN", keystore.P256, "hostname known\n", false)
	c := floodConn(t, l.cli.NS, "udp4", "0.0.0.0:68", l.cli.Name)
	ctx, cancel := context.WithCancel(t.Context())
	sent := make(chan int, 1)
	go func() {
		sent <- flood(ctx, c, &net.UDPAddr{IP: net.IPv4bcast, Port: 67}, 300, func(int) []byte { return madeUpDiscover() })
	}()
	s.wait("dhcpv4: no address to offer", nil) // the pool is drained
	out := filepath.Join(l.dir, "hook.out")
	res := run(t, l.cli.NS, true, "busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-f", "-t", "5", "-T", "2",
		"-s", hookScript(t, l.dir, out), "-x", "0x3d:00"+hex.EncodeToString([]byte("FDO2134KNOWN")))
	cancel()
	n := <-sent
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("udhcpc got no lease during a flood of %d DISCOVERs:\n%s", n, res)
	}
	env := boundEnv(t, out)
	expectEnv(t, "udhcpc", env, map[string]string{"boot_file": "FDO2134KNOWN.enc", "siaddr": "192.0.2.1"})
	if !regexp.MustCompile(`^192\.0\.2\.1\d\d$`).MatchString(env["ip"]) {
		t.Errorf("address %q not from the pool", env["ip"])
	}
	s.wait("dhcp.ack", func(m map[string]any) bool { return m["serial"] == "FDO2134KNOWN" && m["ip"] == env["ip"] })
	s.wait("given to a known device", func(m map[string]any) bool { return m["serial"] == "FDO2134KNOWN" })
	t.Logf("udhcpc bound %s while %d DISCOVERs with made-up serials (about 300/s) held the pool", env["ip"], n)
}

// TestLogFloodsBounded: floods of packets that each cost a log line
// (DHCPv6 Relay-forwards without a relay message, TFTP requests for
// made-up names, TFTP requests to a link-local address on a listener
// without a zone, DISCOVERs on a drained pool) write a bounded number of
// lines, and each message's summary says how many were suppressed. Run at
// log level debug, so CoreDHCP's Debug lines are in the count too.
func TestLogFloodsBounded(t *testing.T) {
	need(t, "curl")
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	srv, cli := netns.Pair(t, []string{"192.0.2.1/24", "2001:db8::1/64"}, []string{"192.0.2.2/24", "2001:db8::2/64"})
	l := &lab{t: t, dir: t.TempDir(), srv: srv, cli: cli}
	for _, link := range []*netns.Link{srv, cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := l.config(fmt.Sprintf("  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\nmetrics:\n  listen: 192.0.2.1:9100\n", srv.Name))
	data, _ := os.ReadFile(cfg)
	data = []byte(strings.Replace(string(data), `listen: ["192.0.2.1:69", "[2001:db8::1]:69"]`, `listen: ["192.0.2.1:69", "[::]:6969"]`, 1))
	data = []byte(strings.Replace(string(data), "pool: 192.0.2.100-192.0.2.199", "pool: 192.0.2.100-192.0.2.109", 1))
	_ = os.WriteFile(cfg, data, 0o600)
	s := l.start(cfg)
	ll := linkLocal(t, srv)

	relayForward := make([]byte, 34) // no options: no Relay Message
	relayForward[0] = 12
	phases := []struct {
		name    string
		network string
		laddr   string
		to      net.Addr
		packet  func(i int) []byte
		msg     string // the line each packet cost
	}{
		{"DHCPv6 Relay-forward without a relay message", "udp6", "[2001:db8::2]:0", &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 547},
			func(int) []byte { return relayForward }, "DHCPv6: cannot get inner message"},
		{"TFTP requests for made-up names", "udp4", "192.0.2.2:0", &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 69},
			func(i int) []byte { return fmt.Appendf(nil, "\x00\x01FAKE%06d.enc\x00octet\x00", i) }, "tftp fetch binding_mismatch"},
		{"TFTP requests to a link-local address", "udp6", "[::]:0", &net.UDPAddr{IP: net.ParseIP(ll), Port: 6969, Zone: cli.Name},
			func(i int) []byte { return fmt.Appendf(nil, "\x00\x01FAKE%06d.enc\x00octet\x00", i) }, "tftp: cannot open a socket for a transfer"},
		{"DISCOVERs with made-up serials, pool drained", "udp4", "192.0.2.2:0", &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 67},
			func(int) []byte { return madeUpDiscover() }, "dhcpv4: no address to offer"},
	}
	for _, ph := range phases {
		c := floodConn(t, cli.NS, ph.network, ph.laddr, "")
		before := s.lineCount()
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		n := flood(ctx, c, ph.to, 5000, ph.packet)
		cancel()
		s.wait(ph.msg, nil)
		lines := s.linesSince(before)
		secs := time.Since(start).Seconds()
		// Each message a packet can cause is bounded (20 lines in each
		// 10 s window of the sampler), and a packet causes few different
		// messages. A 3 s flood can straddle the end of one window and the
		// start of the next, so it may see two windows' worth. The
		// summaries of the phases before, which come every 10 s, are not
		// this flood's.
		const perWindow, windows = 20, 2
		same, perMsg := 0, map[string]int{}
		for _, m := range lines {
			msg, _ := m["msg"].(string)
			if m["event"] == "log.suppressed" {
				continue
			}
			perMsg[msg]++
			if strings.HasPrefix(msg, ph.msg) {
				same++
			}
		}
		t.Logf("%s: %d packets in %.1fs, %d log lines (%.0f/s), %d of them %q; by message %v", ph.name, n, secs, len(lines), float64(len(lines))/secs, same, ph.msg, perMsg)
		if same > perWindow*windows || len(perMsg) > 4 {
			t.Errorf("%s: %d lines (%d %q) for %d packets", ph.name, len(lines), same, ph.msg, n)
		}
		for msg, k := range perMsg {
			if k > perWindow*windows {
				t.Errorf("%s: %d lines %q in one flood", ph.name, k, msg)
			}
		}
	}
	for _, ph := range phases {
		sum := s.wait("suppressed", func(m map[string]any) bool {
			return m["event"] == "log.suppressed" && strings.HasPrefix(fmt.Sprint(m["message"]), ph.msg)
		})
		t.Logf("summary: %v %q (%v)", sum["msg"], sum["message"], sum["logger"])
	}
	metrics := run(t, cli.NS, false, "curl", "-sS", "http://192.0.2.1:9100/metrics")
	for _, re := range []string{`sealboot_dhcp_malformed_packets_total [1-9]\d{3,}`, `sealboot_log_suppressed_total\{logger="tftpd"\} [1-9]\d{2,}`,
		`sealboot_log_suppressed_total\{logger="dhcp"\} [1-9]\d{2,}`, `sealboot_log_suppressed_total\{logger="dhcp.coredhcp"\} [1-9]\d{2,}`} {
		if m := regexp.MustCompile(re).FindString(metrics); m == "" {
			t.Errorf("metrics lack %s", re)
		} else {
			t.Log(m)
		}
	}
}

// linkLocal returns the link-local address of link.
func linkLocal(t *testing.T, link *netns.Link) string {
	t.Helper()
	out := run(t, link.NS, false, "ip", "-6", "-o", "addr", "show", "dev", link.Name, "scope", "link")
	m := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link-local address:\n%s", out)
	}
	return m[1]
}

// lineCount is the number of log lines so far.
func (s *server) lineCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// linesSince returns the log lines from the n-th on.
func (s *server) linesSince(n int) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.log[n:]...)
}
