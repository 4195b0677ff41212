package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/plugins/leases"
	"github.com/sealboot/sealboot/test/device"
	"github.com/sealboot/sealboot/test/netns"
)

// appliance is one sealboot of a pair: its own address, half of the pool,
// its own lease journal, and the keys and configs an operator's deploy
// copied to it.
type appliance struct {
	name        string
	link        *netns.Link
	addr, addr6 netip.Addr
	pool, pool6 leases.Pool
	dir, cfg    string
	s           *server
}

// pair is two appliances on one segment with the devices' namespaces.
type pair struct {
	t   *testing.T
	dir string // src/keys and src/configs (what the operator deploys), devkeys (the devices' keys)
	app [2]*appliance
	dev *netns.Link // emulated devices
	dhc *netns.Link // ISC dhclient
}

const pairYAML = `state_dir: %[1]s/state
keys_dir: %[1]s/keys
configs_dir: %[1]s/configs
log:
  level: info
watch:
  settle: 50ms
keystore:
  settle: 50ms
tftp:
  listen: ["%[2]s:69", "[%[3]s]:69"]
  timeout: 1s
dhcp:
  enabled: true
  v4:
    interfaces: [%[4]s]
    server_id: %[2]s
    pool: %[5]s
    netmask: 255.255.255.0
    lease_time: 20s
  v6:
    interfaces: [%[4]s]
    tftp_server: %[3]s
    pool: %[6]s
    lease_time: 20s
`

// newPair builds the segment: appliance A (192.0.2.1, the lower half of
// 192.0.2.100-199 and of 2001:db8::100-1ff), B (192.0.2.2, the upper
// halves), and two device namespaces.
func newPair(t *testing.T) *pair {
	t.Helper()
	need(t, "rsync")
	p := &pair{t: t, dir: t.TempDir()}
	for i, a := range []struct{ name, addr, addr6, pool, pool6 string }{
		{"A", "192.0.2.1", "2001:db8::1", "192.0.2.100-192.0.2.149", "2001:db8::100-2001:db8::17f"},
		{"B", "192.0.2.2", "2001:db8::2", "192.0.2.150-192.0.2.199", "2001:db8::180-2001:db8::1ff"},
	} {
		app := &appliance{name: a.name, addr: netip.MustParseAddr(a.addr), addr6: netip.MustParseAddr(a.addr6),
			dir: filepath.Join(p.dir, a.name), cfg: filepath.Join(p.dir, a.name+".yaml"),
			link: &netns.Link{NS: netns.New(t, "sb"+a.name), Addrs: []string{a.addr + "/24", a.addr6 + "/64"}}}
		app.pool, _ = leases.ParsePool(a.pool)
		app.pool6, _ = leases.ParsePool(a.pool6)
		p.app[i] = app
	}
	p.dev = &netns.Link{NS: netns.New(t, "sbD")}
	p.dhc = &netns.Link{NS: netns.New(t, "sbH")}
	netns.Segment(t, p.app[0].link, p.app[1].link, p.dev, p.dhc)
	for _, l := range []*netns.Link{p.app[0].link, p.app[1].link, p.dev} {
		if err := l.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"src/keys", "src/configs", "devkeys", "A", "B"} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range p.app {
		yaml := fmt.Sprintf(pairYAML, a.dir, a.addr, a.addr6, a.link.Name, a.pool, a.pool6)
		if err := os.WriteFile(a.cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// host runs a command outside the namespaces.
func host(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// devices makes device keys (kept on the device side) and certificates
// (as the vendor publishes them), and imports the certificates into the
// operator's source keystore with sealboot keys, which pins their keys
// there; extra is passed to keys import (--replace).
func (p *pair) devices(serials []string, extra ...string) {
	p.t.Helper()
	vendor := filepath.Join(p.dir, "vendor")
	var certs []string
	for _, s := range serials {
		host(p.t, sealbootBin, "device", "keygen", "--serial", s, "--out", filepath.Join(p.dir, "devkeys"), "--certs-dir", vendor)
		certs = append(certs, filepath.Join(vendor, s+".crt"))
	}
	host(p.t, append(append([]string{sealbootBin, "keys", "--dir", filepath.Join(p.dir, "src/keys"), "import"}, extra...), certs...)...)
}

func (p *pair) config(serial string) string {
	return fmt.Sprintf("hostname %s\nsnmp-server community s3cr3t-%s\n", serial, serial)
}

func (p *pair) writeConfig(serial string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, "src/configs", serial+".cfg"), []byte(p.config(serial)), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// sync deploys the source directory to both appliances as an operator
// would, with rsync: the keystore with its pin file (so a key replaced at
// the source is accepted by both), not its lock nor its scan cache (each
// appliance keeps its own). --checksum, because the pin file rewritten by
// keys import --replace keeps its size and may keep its second, which
// rsync's quick check takes for unchanged. rsync writes each file
// under a dot name and renames it (with --delay-updates, all at the end);
// sealboot never takes a dot file.
func (p *pair) sync() {
	p.t.Helper()
	for _, a := range p.app {
		for _, d := range []string{"keys", "configs"} {
			host(p.t, "rsync", "-a", "--checksum", "--delete", "--delay-updates", "--exclude=.sealboot-pins.lock", "--exclude=.sealboot-scan-cache",
				filepath.Join(p.dir, "src", d)+"/", filepath.Join(a.dir, d)+"/")
		}
	}
}

func (p *pair) start(a *appliance) { a.s = startServer(p.t, a.link.NS, a.cfg) }

// owner is the appliance whose address is addr (v4 or v6).
func (p *pair) owner(addr string) *appliance {
	for _, a := range p.app {
		if a.addr.String() == addr || a.addr6.String() == addr {
			return a
		}
	}
	p.t.Fatalf("%q is neither appliance's address", addr)
	return nil
}

func (p *pair) other(a *appliance) *appliance {
	if a == p.app[0] {
		return p.app[1]
	}
	return p.app[0]
}

func (a *appliance) owns(ip netip.Addr) bool { return a.pool.Contains(ip) || a.pool6.Contains(ip) }

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("still waiting for %s", what)
		case <-tick.C:
		}
	}
}

// remoteIP is the address part of a tftp.fetch event's remote.
func remoteIP(ev map[string]any) netip.Addr {
	ap, _ := netip.ParseAddrPort(fmt.Sprint(ev["remote"]))
	return ap.Addr().Unmap()
}

func eventTime(ev map[string]any) time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["ts"]))
	return ts
}

// checkServedFromOwnLeases: every config an appliance served went to an
// address of its own half that it had acknowledged to that serial — each
// device fetched from the server whose offer it took, and its binding
// check held.
func (p *pair) checkServedFromOwnLeases(prefix string) (served map[string]int) {
	p.t.Helper()
	served = map[string]int{}
	for _, a := range p.app {
		acked := map[string]bool{}
		for _, e := range a.s.events("dhcp.ack") {
			acked[fmt.Sprint(e["serial"], "@", e["ip"])] = true
		}
		for _, e := range filter(a.s.events("tftp.fetch"), "outcome", "served") {
			serial := fmt.Sprint(e["serial"])
			if !strings.HasPrefix(serial, prefix) {
				continue
			}
			ip := remoteIP(e)
			if !a.owns(ip) || !acked[serial+"@"+ip.String()] {
				p.t.Errorf("%s served %s to %s: not an address it acknowledged to that serial", a.name, serial, ip)
			}
			served[a.name]++
		}
		for _, e := range filter(a.s.events("tftp.fetch"), "outcome", "binding_mismatch") {
			if strings.HasPrefix(fmt.Sprint(e["serial"]), prefix) {
				p.t.Errorf("%s refused a device: %v", a.name, e)
			}
		}
	}
	return served
}

// TestPairOfAppliances: two sealboots on one segment, as operators run
// them in a POP — split pools (50/50), their own server_id and lease
// journal, the same keys and configs deployed to both by rsync:
//
//  1. each device fetches from the server whose offer it took (siaddr,
//     option 150 and the v6 URL name that server), and each server's binding
//     check refuses a device of the other's;
//  2. a fleet with half its configs still missing is provisioning when the
//     server that most recently answered one of the waiting devices is
//     killed with SIGKILL; the configs arrive, and every device finishes on
//     the other, at its next attempt;
//  3. ISC dhclient, bound to one server when it is killed, renews in vain
//     until T2, is NAKed by the other when it rebinds (its address is not in
//     that server's half), starts over, and fetches from the other server —
//     before its lease would have expired;
//  4. a DHCPv6 device is served by either, and by the survivor alone once
//     one is down; the other commits no lease for it;
//  5. a device's key replaced at the source (RMA, keys import --replace) is
//     taken by both, with the pin file the deploy carries.
func TestPairOfAppliances(t *testing.T) {
	need(t, "rsync", "curl", "dhclient", "tftp")
	p := newPair(t)
	fleet := fleetSerials(24)
	p.devices(append([]string{"HAX001", "HAX002", "NSPAIR6", "JNPAIR01"}, fleet...))
	for _, s := range []string{"HAX001", "HAX002", "NSPAIR6", "JNPAIR01"} {
		p.writeConfig(s)
	}
	for i, s := range fleet {
		if i%2 == 0 { // HA0001, HA0003, …: the odd half has its config
			p.writeConfig(s)
		}
	}
	p.sync()
	p.start(p.app[0])
	p.start(p.app[1])

	t.Run("each device fetches from the server it took, binding check on both", func(t *testing.T) { p.bindings(t) })
	t.Run("DHCPv6 device served by the server it took", func(t *testing.T) { p.boot6(t, nil) })
	t.Run("a key replaced at the source is taken by both", func(t *testing.T) { p.replaceKey(t, "HAX001") })
	victim := p.fleetKill(t)
	p.start(victim) // the killed appliance comes back with its journal
	dead := p.dhclientFailover(t)
	t.Run("DHCPv6 device served by the survivor", func(t *testing.T) { p.boot6(t, p.other(dead)) })
}

// bindings boots HAX001; freezes the server it took (SIGSTOP) so HAX002
// can only take the other; then checks each server serves its own device
// and refuses the other's (binding_mismatch, no DHCP lease for the
// address).
func (p *pair) bindings(t *testing.T) {
	key := func(s string) string { return filepath.Join(p.dir, "devkeys", s+".key") }
	boot := func(serial string) (*appliance, netip.Addr) {
		res := p.bootOne(t, "--serial", serial, "--key", key(serial), "--vendor", "juniper", "--keep-address")
		a := p.owner(res.Server)
		ip := netip.MustParseAddr(res.Address)
		if !a.pool.Contains(ip) {
			t.Fatalf("%s: address %s from %s is not in its half %s", serial, ip, a.name, a.pool)
		}
		t.Logf("%s took %s's offer: %s, fetched from %s", serial, a.name, ip, res.Server)
		return a, ip
	}
	first, ip1 := boot("HAX001")
	_ = first.s.cmd.Process.Signal(syscall.SIGSTOP)
	second, ip2 := boot("HAX002")
	_ = first.s.cmd.Process.Signal(syscall.SIGCONT)
	if second == first {
		t.Fatalf("HAX002 took the offer of %s, which was stopped", first.name)
	}
	for _, c := range []struct {
		serial string
		from   netip.Addr
		own    *appliance
	}{{"HAX001", ip1, first}, {"HAX002", ip2, second}} {
		for _, a := range p.app {
			got := filepath.Join(p.dir, c.serial+"-from-"+a.name)
			run(t, p.dev.NS, true, "curl", "-sS", "--interface", c.from.String(), "-o", got, "tftp://"+a.addr.String()+"/"+c.serial+".enc")
			data, _ := os.ReadFile(got)
			if a == c.own {
				p.opens(t, c.serial, data)
				continue
			}
			if len(data) != 0 {
				t.Fatalf("%s's config went from %s to %s, a device of %s", c.serial, a.name, c.from, c.own.name)
			}
			ev := a.s.wait("tftp fetch binding_mismatch", func(m map[string]any) bool { return m["serial"] == c.serial })
			t.Logf("%s refused %s from %s: %v", a.name, c.serial, c.from, ev["reason"])
		}
	}
	run(t, p.dev.NS, false, "ip", "-4", "addr", "flush", "dev", p.dev.Name)
}

// opens decrypts a sealed config with the device's key and compares it.
func (p *pair) opens(t *testing.T, serial string, sealed []byte) {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(p.dir, "devkeys", serial+".key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := cms.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := cms.Open(key, sealed)
	if err != nil || string(plain) != p.config(serial) {
		t.Fatalf("%s: %d sealed bytes: %v, %q", serial, len(sealed), err, plain)
	}
}

// bootOne boots one emulated device in the device namespace.
func (p *pair) bootOne(t *testing.T, args ...string) device.Result {
	t.Helper()
	argv := append([]string{sealbootBin, "device", "boot", "--iface", p.dev.Name, "--dhcp-timeout", "6s",
		"--tftp-timeout", "500ms", "--retry", "500ms", "--max-attempts", "10", "--require-encrypted"}, args...)
	res := parseResult(t, run(t, p.dev.NS, true, argv...))
	if !res.Installed() {
		t.Fatalf("%v: %+v", args, res)
	}
	return res
}

// boot6 boots the DHCPv6 device (it asks for Rapid Commit) and checks it
// fetched from the server whose address it holds; want (nil: either) is
// the one that must serve. The other commits no lease for it
// (dhcp.v6.rapid_commit is off).
func (p *pair) boot6(t *testing.T, want *appliance) {
	acks := func(a *appliance) int { return len(filter(a.s.events("dhcp.ack"), "serial", "NSPAIR6")) }
	var before [2]int
	for i, a := range p.app {
		before[i] = acks(a)
	}
	res := p.bootOne(t, "--v6", "--serial", "NSPAIR6", "--key", filepath.Join(p.dir, "devkeys", "NSPAIR6.key"), "--vendor", "nokia")
	a := p.owner(res.Server)
	ip := netip.MustParseAddr(res.Address)
	if !a.pool6.Contains(ip) || (want != nil && a != want) {
		t.Fatalf("v6 device: %s from %s (pool %s), want %v", ip, a.name, a.pool6, want)
	}
	a.s.wait("tftp fetch served", func(m map[string]any) bool { return m["serial"] == "NSPAIR6" && remoteIP(m) == ip })
	if o := p.other(a); acks(o) != before[1-p.index(a)] {
		t.Errorf("%s also committed a lease for NSPAIR6: %v", o.name, filter(o.s.events("dhcp.ack"), "serial", "NSPAIR6"))
	}
	t.Logf("NSPAIR6 (DHCPv6) leased %s by %s and fetched from it", ip, a.name)
}

func (p *pair) index(a *appliance) int {
	if a == p.app[0] {
		return 0
	}
	return 1
}

// replaceKey is an RMA (RFC 8886 5.2): the device's key changes, the
// operator imports its new certificate with --replace at the source and
// deploys; both appliances take it (the pin file came with it), and the
// device with its new key installs its config.
func (p *pair) replaceKey(t *testing.T, serial string) {
	p.devices([]string{serial}, "--replace")
	p.sync()
	for _, a := range p.app {
		a.s.wait("certificate replaced", func(m map[string]any) bool { return m["serial"] == serial })
	}
	p.bootOne(t, "--serial", serial, "--key", filepath.Join(p.dir, "devkeys", serial+".key"), "--vendor", "juniper")
}
