package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/test/netns"
)

// TestRelayedRequestGetsRelaySubnet: client ─ dhcrelay (ISC, giaddr
// 10.1.0.1, option 82) ─ sealboot. The client gets an address from the
// relayed subnet's pool, and the event names the relay and circuit.
func TestRelayedRequestGetsRelaySubnet(t *testing.T) {
	need(t, "dhcrelay", "busybox")
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	srvNS, relayNS, cliNS := netns.New(t, "sbS"), netns.New(t, "sbR"), netns.New(t, "sbC")
	up := []*netns.Link{{NS: srvNS, Addrs: []string{"198.51.100.1/24"}}, {NS: relayNS, Addrs: []string{"198.51.100.2/24"}}}
	down := []*netns.Link{{NS: relayNS, Addrs: []string{"10.1.0.1/24"}}, {NS: cliNS}}
	for _, pair := range [][]*netns.Link{up, down} {
		if err := netns.Veth(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	run(t, srvNS, false, "ip", "route", "add", "10.1.0.0/24", "via", "198.51.100.2")
	run(t, relayNS, false, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l := &lab{t: t, dir: t.TempDir(), srv: up[0], cli: down[1]}
	cfg := l.config(`    subnets:
      - network: 10.1.0.0/24
        pool: 10.1.0.100-10.1.0.150
        netmask: 255.255.255.0
        router: 10.1.0.1
        lease_time: 30m
`)
	cfgData, _ := os.ReadFile(cfg)
	cfgData = bytes.ReplaceAll(cfgData, []byte("192.0.2.100-192.0.2.199"), []byte("198.51.100.100-198.51.100.150"))
	cfgData = bytes.ReplaceAll(cfgData, []byte("router: 192.0.2.1"), []byte("router: 198.51.100.1"))
	cfgData = bytes.ReplaceAll(cfgData, []byte(`["192.0.2.1:69", "[2001:db8::1]:69"]`), []byte(`["198.51.100.1:69"]`))
	_ = os.WriteFile(cfg, cfgData, 0o600)
	s := l.start(cfg)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	relay := relayNS.Command(ctx, "dhcrelay", "-4", "-d", "-a", "-id", down[0].Name, "-iu", up[1].Name, "198.51.100.1")
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = relay.Wait() }()
	out := filepath.Join(l.dir, "hook.out")
	run(t, cliNS, false, "busybox", "udhcpc", "-i", down[1].Name, "-n", "-q", "-f", "-t", "10", "-s", hookScript(t, l.dir, out),
		"-V", "Arista;DCS-7280;11.00;JPE19990001")
	env := boundEnv(t, out)
	if !strings.HasPrefix(env["ip"], "10.1.0.1") || env["router"] != "10.1.0.1" || env["boot_file"] != "JPE19990001.enc" || env["siaddr"] != "198.51.100.1" {
		t.Fatalf("relayed client got ip=%s router=%s boot_file=%s siaddr=%s", env["ip"], env["router"], env["boot_file"], env["siaddr"])
	}
	ack := s.wait("dhcp.ack", nil)
	if ack["relay"] != "10.1.0.1" || ack["circuit_id"] != down[0].Name || ack["serial"] != "JPE19990001" {
		t.Fatalf("dhcp.ack event: %v", ack)
	}
	t.Logf("relayed lease %s; event relay=%v circuit_id=%v", env["ip"], ack["relay"], ack["circuit_id"])

	// Another host on the client's link takes that address; the device,
	// checking with ARP (-a), declines it through the relay and gets another.
	run(t, relayNS, false, "ip", "addr", "add", env["ip"]+"/32", "dev", down[0].Name)
	out2 := filepath.Join(l.dir, "hook2.out")
	run(t, cliNS, false, "busybox", "udhcpc", "-i", down[1].Name, "-n", "-q", "-f", "-t", "10", "-T", "1", "-A", "1", "-a", "-s", hookScript(t, l.dir, out2),
		"-V", "Arista;DCS-7280;11.00;JPE19990001")
	if again := boundEnv(t, out2)["ip"]; again == env["ip"] || !strings.HasPrefix(again, "10.1.0.1") {
		t.Fatalf("after declining %s through the relay the device got %q", env["ip"], again)
	}
	if d := s.wait("dhcp.decline", nil); d["ip"] != env["ip"] || d["relay"] != "10.1.0.1" {
		t.Fatalf("dhcp.decline event: %v", d)
	}
}

// TestLeasesSurviveKill9: a device leases an address, sealboot is killed
// with SIGKILL and restarted; the device's binding is still there (it can
// fetch its config under the binding check) and it gets the same address.
func TestLeasesSurviveKill9(t *testing.T) {
	need(t, "busybox", "tftp")
	l := newLab(t)
	cfg := l.config("")
	id, err := keystore.GenerateDevice("NOKIA01", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(l.keysDir(), "NOKIA01.crt"), id.CertPEM, 0o644)
	_ = os.WriteFile(filepath.Join(l.configsDir(), "NOKIA01.cfg"), []byte("system name pe9\n"), 0o600)
	s := l.start(cfg)
	out := filepath.Join(l.dir, "hook.out")
	lease := func() string {
		run(t, l.cli.NS, false, "busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-f", "-s", hookScript(t, l.dir, out), "-x", "0x3d:"+fmt.Sprintf("%x", "NOKIA01"))
		return boundEnv(t, out)["ip"]
	}
	ip := lease()
	s.kill()
	journal, _ := os.ReadFile(filepath.Join(l.dir, "state", "leases4.journal"))
	if !strings.Contains(string(journal), ip+" ") || !strings.Contains(string(journal), " NOKIA01") {
		t.Fatalf("lease %s not in the journal after kill -9:\n%s", ip, journal)
	}
	l.start(cfg)
	// The binding survived: the config is served to that address, sealed.
	run(t, l.cli.NS, false, "ip", "addr", "add", ip+"/24", "dev", l.cli.Name)
	got := filepath.Join(l.dir, "got.enc")
	run(t, l.cli.NS, false, "tftp", "-m", "binary", "192.0.2.1", "-c", "get", "NOKIA01.enc", got)
	data, _ := os.ReadFile(got)
	if plain, err := cms.Open(id.Key, data); err != nil || string(plain) != "system name pe9\n" {
		t.Fatalf("fetch after restart: %v (%d bytes)", err, len(data))
	}
	run(t, l.cli.NS, false, "ip", "addr", "flush", "dev", l.cli.Name)
	if again := lease(); again != ip {
		t.Fatalf("after restart the device got %s, had %s", again, ip)
	}
	t.Logf("lease %s of NOKIA01 survived kill -9", ip)
}

// TestRelayedDHCPv6GetsRelaySubnet: dhclient -6 ─ dhcrelay -6 (ISC,
// link-address 2001:db8:1::1) ─ sealboot. The client gets an address from
// the relayed link's pool, not the server's own, and its bootfile URL.
func TestRelayedDHCPv6GetsRelaySubnet(t *testing.T) {
	need(t, "dhcrelay", "dhclient")
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	srvNS, relayNS, cliNS := netns.New(t, "sbS"), netns.New(t, "sbR"), netns.New(t, "sbC")
	up := []*netns.Link{{NS: srvNS, Addrs: []string{"192.0.2.1/24", "2001:db8::1/64"}}, {NS: relayNS, Addrs: []string{"2001:db8::2/64"}}}
	down := []*netns.Link{{NS: relayNS, Addrs: []string{"2001:db8:1::1/64"}}, {NS: cliNS}}
	for _, pair := range [][]*netns.Link{up, down} {
		if err := netns.Veth(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range append(up, down...) {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	run(t, relayNS, false, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l := &lab{t: t, dir: t.TempDir(), srv: up[0], cli: down[1]}
	mac := strings.TrimSpace(run(t, cliNS, false, "cat", "/sys/class/net/"+down[1].Name+"/address"))
	inv := filepath.Join(l.dir, "inventory")
	_ = os.WriteFile(inv, []byte(mac+" SONIC-0061\n"), 0o644)
	s := l.start(l.config(fmt.Sprintf(`  inventory: %s
  v6:
    interfaces: [%s]
    pool: 2001:db8::100-2001:db8::1ff
    subnets:
      - network: 2001:db8:1::/64
        pool: 2001:db8:1::100-2001:db8:1::1ff
        dns: [2001:db8:1::53]
`, inv, up[0].Name)))

	// The relay sends to an address the server's interface gets only now,
	// while sealboot runs: it is listened on once duplicate address
	// detection is over, without a restart.
	run(t, srvNS, false, "ip", "addr", "add", "2001:db8::9/64", "dev", up[0].Name)
	s.wait("dhcpv6: listening for relays", func(m map[string]any) bool { return m["address"] == "[2001:db8::9%"+up[0].Name+"]:547" })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	relay := relayNS.Command(ctx, "dhcrelay", "-6", "-d", "-pf", filepath.Join(l.dir, "relay.pid"),
		"-l", down[0].Name, "-u", "2001:db8::9%"+up[1].Name)
	var relayOut bytes.Buffer
	relay.Stdout, relay.Stderr = &relayOut, &relayOut
	defer func() {
		if t.Failed() {
			t.Logf("dhcrelay -6:\n%s\nsealboot:\n%s", relayOut.String(), s.logText())
		}
	}()
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = relay.Wait() }()
	out := filepath.Join(l.dir, "hook6.out")
	conf := filepath.Join(l.dir, "dhclient6.conf")
	_ = os.WriteFile(conf, []byte("option dhcp6.bootfile-url code 59 = string;\nrequest dhcp6.bootfile-url;\n"), 0o644)
	run(t, cliNS, false, "dhclient", "-6", "-1", "-sf", hookScript(t, l.dir, out), "-cf", conf,
		"-lf", filepath.Join(l.dir, "leases6"), "-pf", filepath.Join(l.dir, "pid6"), down[1].Name)
	defer run(t, cliNS, true, "dhclient", "-6", "-x", "-pf", filepath.Join(l.dir, "pid6"))
	env := boundEnv(t, out)
	expectEnv(t, "dhclient -6 via dhcrelay -6", env, map[string]string{
		"new_dhcp6_bootfile_url": "tftp://[2001:db8::1]/SONIC-0061.enc",
		"new_dhcp6_name_servers": "2001:db8:1::53",
	})
	if !strings.HasPrefix(env["new_ip6_address"], "2001:db8:1::1") {
		t.Fatalf("relayed client got %q, want an address from 2001:db8:1::100-2001:db8:1::1ff", env["new_ip6_address"])
	}
	if ack := s.wait("dhcp.ack", nil); ack["relay"] != "2001:db8:1::1" || ack["serial"] != "SONIC-0061" {
		t.Fatalf("dhcp.ack event: %v", ack)
	}
	t.Logf("relayed v6 lease %s", env["new_ip6_address"])

	// Another client on the relayed link declines its first address: the
	// Decline and its Reply pass through the relay.
	declined, leased := dhclient6DeclinesOnce(t, cliNS, down[1].Name, l.dir, "declining")
	if !strings.HasPrefix(leased, "2001:db8:1::") {
		t.Fatalf("after declining %s the client got %s, not an address of the relayed link", declined, leased)
	}
	if d := s.wait("dhcp.decline", nil); d["ip"] != declined || d["relay"] != "2001:db8:1::1" {
		t.Fatalf("dhcp.decline event: %v", d)
	}
}
