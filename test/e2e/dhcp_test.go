package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/test/netns"
)

// hookScript writes a dhclient/udhcpc script that appends its environment
// to out.
func hookScript(t *testing.T, dir, out string) string {
	t.Helper()
	p := filepath.Join(dir, "hook.sh")
	script := "#!/bin/sh\n{ echo \"--- $reason $1\"; env | sort; } >> " + out + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// boundEnv returns the variables of the last BOUND/bound section a hook
// recorded.
func boundEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := strings.Split(string(data), "--- ")
	env := map[string]string{}
	for _, sec := range sections {
		if !strings.HasPrefix(sec, "BOUND") && !strings.HasPrefix(sec, " bound") && !strings.HasPrefix(sec, "BOUND6") {
			continue
		}
		env = map[string]string{}
		for _, line := range strings.Split(sec, "\n")[1:] {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
	}
	if len(env) == 0 {
		t.Fatalf("no bound section in %s:\n%s", path, data)
	}
	return env
}

func expectEnv(t *testing.T, client string, env map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s: %s=%q, want %q", client, k, env[k], v)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k+"="+env[k])
	}
	t.Logf("%s saw: %s", client, strings.Join(keys, " "))
}

// TestDHClientSeesBootOptions: ISC dhclient, presenting a Juniper vendor
// class, gets an address, siaddr, file and options 66, 67 and 150.
func TestDHClientSeesBootOptions(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	s := l.start(l.config(""))
	out := filepath.Join(l.dir, "hook.out")
	conf := filepath.Join(l.dir, "dhclient.conf")
	_ = os.WriteFile(conf, []byte(`option tftp-servers code 150 = array of ip-address;
send vendor-class-identifier "Juniper-mx204-JN1234AB";
request subnet-mask, routers, tftp-server-name, bootfile-name, tftp-servers;
`), 0o644)
	run(t, l.cli.NS, false, "dhclient", "-4", "-1", "-sf", hookScript(t, l.dir, out), "-cf", conf,
		"-lf", filepath.Join(l.dir, "leases"), "-pf", filepath.Join(l.dir, "pid"), l.cli.Name)
	defer run(t, l.cli.NS, true, "dhclient", "-x", "-pf", filepath.Join(l.dir, "pid"))
	env := boundEnv(t, out)
	expectEnv(t, "dhclient", env, map[string]string{
		"new_next_server": "192.0.2.1", "new_filename": "JN1234AB.enc", "new_tftp_server_name": "192.0.2.1",
		"new_bootfile_name": "JN1234AB.enc", "new_tftp_servers": "192.0.2.1", "new_routers": "192.0.2.1",
		"new_subnet_mask": "255.255.255.0",
	})
	if !regexp.MustCompile(`^192\.0\.2\.1\d\d$`).MatchString(env["new_ip_address"]) {
		t.Errorf("address %q not from the pool", env["new_ip_address"])
	}
	ack := s.wait("dhcp.ack", nil)
	if ack["serial"] != "JN1234AB" || ack["vendor"] != "juniper" || ack["ip"] != env["new_ip_address"] {
		t.Errorf("dhcp.ack event: %v", ack)
	}
}

// TestUdhcpcSeesBootOptions: busybox udhcpc presenting a Cisco NX-OS
// serial in option 61 (0x00 + serial).
func TestUdhcpcSeesBootOptions(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	s := l.start(l.config(""))
	out := filepath.Join(l.dir, "hook.out")
	run(t, l.cli.NS, false, "busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-f", "-s", hookScript(t, l.dir, out),
		"-x", "0x3d:00"+fmt.Sprintf("%x", "FDO2134ZZ1"), "-O", "66", "-O", "67", "-O", "150")
	env := boundEnv(t, out)
	expectEnv(t, "udhcpc", env, map[string]string{
		"siaddr": "192.0.2.1", "boot_file": "FDO2134ZZ1.enc", "tftp": "192.0.2.1", "bootfile": "FDO2134ZZ1.enc",
		"opt150": "c0000201", "subnet": "255.255.255.0",
	})
	if ack := s.wait("dhcp.ack", nil); ack["serial"] != "FDO2134ZZ1" || ack["source"] != "option 61" {
		t.Errorf("dhcp.ack: %v", ack)
	}
}

// TestDeclinedAddressReplaced: busybox udhcpc -a checks the offered
// address with ARP; when another host already uses it, udhcpc declines
// it, and sealboot gives it another instead of the same one again.
func TestDeclinedAddressReplaced(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	s := l.start(l.config(""))
	udhcpc := func(out string, extra ...string) map[string]string {
		args := append([]string{"busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-f", "-t", "8", "-T", "1", "-A", "1",
			"-s", hookScript(t, l.dir, out), "-x", "0x3d:00" + fmt.Sprintf("%x", "FDO2134ZZ9")}, extra...)
		run(t, l.cli.NS, false, args...)
		return boundEnv(t, out)
	}
	first := udhcpc(filepath.Join(l.dir, "first.out"))["ip"]
	// Another host takes that address before the device boots again.
	run(t, l.srv.NS, false, "ip", "addr", "add", first+"/32", "dev", l.srv.Name)
	second := udhcpc(filepath.Join(l.dir, "second.out"), "-a")["ip"]
	if second == first || !strings.HasPrefix(second, "192.0.2.1") {
		t.Fatalf("after declining %s the device got %q", first, second)
	}
	if d := s.wait("dhcp.decline", nil); d["ip"] != first || d["serial"] != "FDO2134ZZ9" {
		t.Fatalf("dhcp.decline event: %v", d)
	}
	t.Logf("declined %s, then leased %s", first, second)
}

// TestUnknownClientIgnored: with dhcp.serve_unknown false (the default),
// a client with no serial gets no answer at all.
func TestUnknownClientIgnored(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	s := l.start(l.config(""))
	out := run(t, l.cli.NS, true, "busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-t", "2", "-T", "1", "-s", "/bin/true")
	if !strings.Contains(out, "no lease") {
		t.Fatalf("unknown client got a lease:\n%s", out)
	}
	if len(s.events("dhcp.offer")) != 0 {
		t.Fatal("offer logged for an unknown client")
	}
}

// TestDHClient6SeesBootfileURL: dhclient -6 (DUID-LLT) listed in the
// inventory gets an address and option 59.
func TestDHClient6SeesBootfileURL(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	mac := strings.TrimSpace(run(t, l.cli.NS, false, "cat", "/sys/class/net/"+l.cli.Name+"/address"))
	inv := filepath.Join(l.dir, "inventory")
	_ = os.WriteFile(inv, []byte(mac+" SONIC-0042\n"), 0o644)
	s := l.start(l.config(fmt.Sprintf("  inventory: %s\n  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", inv, l.srv.Name)))
	for _, link := range []*netns.Link{l.srv, l.cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(l.dir, "hook6.out")
	conf := filepath.Join(l.dir, "dhclient6.conf")
	_ = os.WriteFile(conf, []byte("option dhcp6.bootfile-url code 59 = string;\nrequest dhcp6.bootfile-url;\n"), 0o644)
	run(t, l.cli.NS, false, "dhclient", "-6", "-1", "-sf", hookScript(t, l.dir, out), "-cf", conf,
		"-lf", filepath.Join(l.dir, "leases6"), "-pf", filepath.Join(l.dir, "pid6"), l.cli.Name)
	defer run(t, l.cli.NS, true, "dhclient", "-6", "-x", "-pf", filepath.Join(l.dir, "pid6"))
	env := boundEnv(t, out)
	expectEnv(t, "dhclient -6", env, map[string]string{"new_dhcp6_bootfile_url": "tftp://[2001:db8::1]/SONIC-0042.enc"})
	if !strings.HasPrefix(env["new_ip6_address"], "2001:db8::1") {
		t.Errorf("address %q", env["new_ip6_address"])
	}
	if ack := s.wait("dhcp.ack", nil); ack["serial"] != "SONIC-0042" || ack["source"] != "inventory" {
		t.Errorf("dhcp.ack: %v", ack)
	}
}

// TestDHClient6DeclineReplaced: ISC dhclient -6 declines the first address
// it is given (its script exits 3 for BOUND6, as dhclient-script does when
// duplicate address detection fails); sealboot answers the Decline, which
// dhclient otherwise retransmits for ever, and leases another address.
func TestDHClient6DeclineReplaced(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	s := l.start(l.config(fmt.Sprintf("  serve_unknown: true\n  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", l.srv.Name)))
	for _, link := range []*netns.Link{l.srv, l.cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	declined, leased := dhclient6DeclinesOnce(t, l.cli.NS, l.cli.Name, l.dir, "once")
	if d := s.wait("dhcp.decline", nil); d["ip"] != declined {
		t.Fatalf("dhcp.decline event: %v", d)
	}
	t.Logf("declined %s, then leased %s", declined, leased)
}

// dhclient6DeclinesOnce runs dhclient -6 on dev with a script that
// declines the first address bound (exit 3 for BOUND6, as dhclient-script
// does when duplicate address detection fails) and returns that address
// and the one leased after it, which must differ.
func dhclient6DeclinesOnce(t *testing.T, ns *netns.NS, dev, dir, name string) (declined, leased string) {
	t.Helper()
	out := filepath.Join(dir, name+".out")
	script := filepath.Join(dir, name+".sh")
	_ = os.WriteFile(script, []byte(`#!/bin/sh
echo "$reason $new_ip6_address" >> `+out+`
if [ "$reason" = BOUND6 ] && [ ! -e `+out+`.declined ]; then touch `+out+`.declined; exit 3; fi
exit 0
`), 0o755)
	pid := filepath.Join(dir, name+".pid")
	run(t, ns, false, "dhclient", "-6", "-1", "-sf", script, "-lf", filepath.Join(dir, name+".leases"), "-pf", pid, dev)
	t.Cleanup(func() {
		run(t, ns, true, "dhclient", "-6", "-x", "-pf", pid)
		// After the Decline, dhclient's daemon is not always the pid
		// in its pid file: stop whatever still runs this script.
		_ = exec.Command("pkill", "-f", script).Run()
	})
	data, _ := os.ReadFile(out)
	bound := regexp.MustCompile(`(?m)^BOUND6 (\S+)$`).FindAllStringSubmatch(string(data), -1)
	if len(bound) != 2 || bound[0][1] == bound[1][1] {
		t.Fatalf("want two different addresses bound, the first declined:\n%s", data)
	}
	return bound[0][1], bound[1][1]
}

// TestStartsWhileV6AddressTentative: the provisioning port has no carrier
// yet (its switch is not up), so the server's IPv6 address stays tentative
// and cannot be bound. sealboot still starts, and listens on the address
// for relays (DHCPv6) and for TFTP once the link comes up.
func TestStartsWhileV6AddressTentative(t *testing.T) {
	need(t, "curl")
	l := newLab(t)
	run(t, l.cli.NS, false, "ip", "link", "set", l.cli.Name, "down")
	// The lab turns duplicate address detection off; this test needs it.
	run(t, l.srv.NS, false, "sysctl", "-qw", "net.ipv6.conf."+l.srv.Name+".accept_dad=1")
	run(t, l.srv.NS, false, "ip", "addr", "del", "2001:db8::1/64", "dev", l.srv.Name)
	run(t, l.srv.NS, false, "ip", "addr", "add", "2001:db8::1/64", "dev", l.srv.Name)
	if out := run(t, l.srv.NS, false, "ip", "-6", "addr", "show", "dev", l.srv.Name); !strings.Contains(out, "tentative") {
		t.Fatalf("the address is usable already; the test needs it tentative:\n%s", out)
	}
	s := l.start(l.config(fmt.Sprintf("  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", l.srv.Name)))
	relayAddr := "[2001:db8::1%" + l.srv.Name + "]:547"
	is := func(key, want string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m[key] == want }
	}
	s.wait("dhcpv6: address not usable yet", is("address", relayAddr))
	s.wait("tftp: address not usable yet", is("listen", "[2001:db8::1]:69"))

	run(t, l.cli.NS, false, "ip", "link", "set", l.cli.Name, "up")
	run(t, l.cli.NS, false, "ip", "addr", "add", "2001:db8::2/64", "dev", l.cli.Name, "nodad")
	s.wait("dhcpv6: listening for relays", is("address", relayAddr))
	// TFTP answers on the address now: a request for a serial that has no
	// lease is refused, and logged, rather than met with silence.
	out := run(t, l.cli.NS, true, "curl", "-sS", "-m", "10", "-o", "/dev/null", "tftp://[2001:db8::1]/TENT-0001.enc")
	f := s.wait("tftp fetch", is("file", "TENT-0001.enc"))
	if f["outcome"] != "binding_mismatch" || !strings.HasPrefix(f["remote"].(string), "[2001:db8::2]:") {
		t.Fatalf("fetch over the once-tentative address: %v (curl: %s)", f, out)
	}
}

// TestReloadRefusesPoolOffLink: a reload whose DHCPv4 pool is not on the
// interface's link is refused as a whole (nothing of it applied), and the
// running pool keeps serving.
func TestReloadRefusesPoolOffLink(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	bad := l.config("  serve_unknown: true\n")
	s := l.start(bad)
	data, _ := os.ReadFile(bad)
	_ = os.WriteFile(bad, []byte(strings.Replace(string(data), "pool: 192.0.2.100-192.0.2.199", "pool: 10.0.0.1-10.0.0.5", 1)), 0o600)
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	ev := s.wait("reload refused", nil)
	if ev["outcome"] != "refused" || !strings.Contains(fmt.Sprint(ev["error"]), "not on the interface's link") {
		t.Fatalf("reload event %v", ev)
	}
	out := run(t, l.cli.NS, false, "busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-t", "3", "-T", "1", "-A", "1", "-s", "/bin/true")
	if !strings.Contains(out, "lease of 192.0.2.1") {
		t.Fatalf("after the refused reload, not served from the running pool:\n%s", out)
	}
}
