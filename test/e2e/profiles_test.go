package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/test/netns"
)

// profilesYAML is the boot profiles the tests below configure: an http
// profile by serial with an image and every kind of option, a tftp one.
const profilesYAML = `http:
  listen: ["192.0.2.1:8080"]
profiles:
  - name: mx-http
    serials: [JN11F4C4DAFA, FDO2134ZZ1, SONIC-0042]
    transport: http
    image: junos-mx.tgz
    image_alt: junos-alt.tgz
    options:
      ntp: [192.0.2.123, "2001:db8::123"]
      dns: [192.0.2.53, "2001:db8::53"]
      log: [192.0.2.5]
      domain: pop1.example.net
      raw: [{code: 224, hex: "c0ffee"}]
  - name: ex-tftp
    vendor: juniper
    model: "ex2200-*"
    transport: tftp
    options:
      ntp: [192.0.2.124]
`

// tlv is one Juniper option 43 sub-option as bytes.
func tlv(code byte, v string) []byte { return append([]byte{code, byte(len(v))}, v...) }

// dhclientBytes reads a string option as dhclient's script sees it:
// colon-separated hex when it is not printable, the text otherwise.
func dhclientBytes(s string) []byte {
	var out []byte
	for _, f := range strings.Split(s, ":") {
		b, err := strconv.ParseUint(f, 16, 8)
		if err != nil || len(f) > 2 {
			return []byte(s)
		}
		out = append(out, byte(b))
	}
	return out
}

// dhclient4 runs ISC dhclient once in the lab's client namespace with the
// given extra dhclient.conf lines and returns its BOUND environment.
func (l *lab) dhclient4(t *testing.T, name, conf string) map[string]string {
	t.Helper()
	out := filepath.Join(l.dir, name+".out")
	cf := filepath.Join(l.dir, name+".conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(l.dir, name+".pid")
	run(t, l.cli.NS, false, "dhclient", "-4", "-1", "-sf", hookScript(t, l.dir, out), "-cf", cf,
		"-lf", filepath.Join(l.dir, name+".leases"), "-pf", pid, l.cli.Name)
	run(t, l.cli.NS, true, "dhclient", "-x", "-pf", pid)
	return boundEnv(t, out)
}

// TestProfilesDHClient: ISC dhclient playing three Juniper devices. One
// whose profile says http gets option 67 and the file field as an http://
// URL, option 43 with the image (00, 04), mode http (03) and port (05),
// and the profile's NTP, DNS, log server, domain and raw option; one of a
// tftp profile gets a bare name and 43.03 tftp; one matching no profile
// gets what it got before profiles existed.
func TestProfilesDHClient(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	s := l.start(l.config("    dns: [192.0.2.99]\n" + profilesYAML))
	if w := s.wait("profile matches no known device", nil); w["profile"] != "mx-http" {
		t.Errorf("warning: %v", w)
	}
	const juniperConf = `option space juniper;
option juniper.image-file-name code 0 = text;
option juniper-ztp code 43 = string;
option private-224 code 224 = string;
send vendor-class-identifier "%s";
request subnet-mask, routers, domain-name-servers, domain-name, ntp-servers, log-servers, tftp-server-name, bootfile-name, vendor-encapsulated-options;
`
	env := l.dhclient4(t, "http", fmt.Sprintf(juniperConf, "Juniper-mx204-JN11F4C4DAFA"))
	url := "http://192.0.2.1:8080/JN11F4C4DAFA.enc"
	expectEnv(t, "dhclient (http profile)", env, map[string]string{
		"new_bootfile_name": url, "new_filename": url, "new_next_server": "192.0.2.1", "new_tftp_server_name": "192.0.2.1",
		"new_ntp_servers": "192.0.2.123", "new_domain_name_servers": "192.0.2.53", "new_log_servers": "192.0.2.5",
		"new_domain_name": "pop1.example.net", "new_private_224": "c0:ff:ee",
	})
	want43 := bytes.Join([][]byte{tlv(0, "images/junos-mx.tgz"), tlv(1, "JN11F4C4DAFA.enc"), tlv(3, "http"),
		tlv(4, "images/junos-alt.tgz"), tlv(5, "8080")}, nil)
	if got := dhclientBytes(env["new_juniper_ztp"]); !bytes.Equal(got, want43) {
		t.Errorf("option 43 = % x (%q)\nwant       % x", got, env["new_juniper_ztp"], want43)
	}
	t.Logf("option 43: %s", env["new_juniper_ztp"])
	if ack := s.wait("dhcp.ack", nil); ack["profile"] != "mx-http" || ack["bootfile"] != url {
		t.Errorf("dhcp.ack: %v", ack)
	}

	// A Juniper EX2200 names only its platform; its serial is in option 12.
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:22:00")
	env = l.dhclient4(t, "tftp", fmt.Sprintf(juniperConf, "Juniper-ex2200-48t-4g")+"send host-name \"CW0210260050\";\n")
	expectEnv(t, "dhclient (tftp profile)", env, map[string]string{
		"new_bootfile_name": "CW0210260050.enc", "new_filename": "CW0210260050.enc", "new_ntp_servers": "192.0.2.124",
		"new_domain_name_servers": "192.0.2.99", "new_log_servers": "", "new_domain_name": "",
	})
	if got, want := dhclientBytes(env["new_juniper_ztp"]), append(tlv(1, "CW0210260050.enc"), tlv(3, "tftp")...); !bytes.Equal(got, want) {
		t.Errorf("option 43 = % x, want % x", got, want)
	}
	ack := s.wait("dhcp.ack", func(m map[string]any) bool { return m["serial"] == "CW0210260050" })
	if ack["profile"] != "ex-tftp" || ack["vendor"] != "juniper" {
		t.Errorf("dhcp.ack: %v", ack)
	}

	// No profile matches: as before profiles.
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:33:00")
	env = l.dhclient4(t, "none", fmt.Sprintf(juniperConf, "Juniper-mx204-JN1234AB"))
	expectEnv(t, "dhclient (no profile)", env, map[string]string{
		"new_bootfile_name": "JN1234AB.enc", "new_filename": "JN1234AB.enc", "new_ntp_servers": "",
		"new_domain_name_servers": "192.0.2.99", "new_log_servers": "", "new_private_224": "",
	})
	if got, want := dhclientBytes(env["new_juniper_ztp"]), append(tlv(1, "JN1234AB.enc"), tlv(3, "tftp")...); !bytes.Equal(got, want) {
		t.Errorf("option 43 = % x, want % x", got, want)
	}
	ack = s.wait("dhcp.ack", func(m map[string]any) bool { return m["serial"] == "JN1234AB" })
	if ack["profile"] != "" {
		t.Errorf("dhcp.ack: %v", ack)
	}
}

// TestProfilesUdhcpc: busybox udhcpc as a Cisco NX-OS device (serial in
// option 61) of the http profile, and as an EX2200 (-V, serial in option
// 12) of the tftp profile; then a reload turns the tftp profile into an
// http one and the next exchange gets the URL.
func TestProfilesUdhcpc(t *testing.T) {
	need(t, "busybox")
	l := newLab(t)
	cfgPath := l.config(profilesYAML)
	s := l.start(cfgPath)
	udhcpc := func(name string, args ...string) map[string]string {
		out := filepath.Join(l.dir, name+".out")
		argv := append([]string{"busybox", "udhcpc", "-i", l.cli.Name, "-n", "-q", "-f", "-s", hookScript(t, l.dir, out),
			"-O", "6", "-O", "7", "-O", "15", "-O", "42", "-O", "43", "-O", "66", "-O", "67", "-O", "224"}, args...)
		run(t, l.cli.NS, false, argv...)
		return boundEnv(t, out)
	}
	env := udhcpc("nxos", "-x", "0x3d:00"+hex.EncodeToString([]byte("FDO2134ZZ1")))
	url := "http://192.0.2.1:8080/FDO2134ZZ1.enc"
	expectEnv(t, "udhcpc (http profile)", env, map[string]string{
		"bootfile": url, "boot_file": url, "siaddr": "192.0.2.1", "ntpsrv": "192.0.2.123", "dns": "192.0.2.53",
		"opt7": "c0000205", "domain": "pop1.example.net", "opt224": "c0ffee",
	})
	if ack := s.wait("dhcp.ack", nil); ack["profile"] != "mx-http" || ack["bootfile"] != url {
		t.Errorf("dhcp.ack: %v", ack)
	}
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:22:01")
	ex := []string{"-V", "Juniper-ex2200-48t-4g", "-x", "hostname:CW0210260051"}
	env = udhcpc("ex", ex...)
	expectEnv(t, "udhcpc (tftp profile)", env, map[string]string{
		"bootfile": "CW0210260051.enc", "boot_file": "CW0210260051.enc", "ntpsrv": "192.0.2.124",
		"opt43": hex.EncodeToString(append(tlv(1, "CW0210260051.enc"), tlv(3, "tftp")...)),
	})

	data, _ := os.ReadFile(cfgPath)
	_ = os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "transport: tftp", "transport: http", 1)), 0o600)
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.wait("configuration reloaded", nil)
	env = udhcpc("ex-reloaded", ex...)
	url = "http://192.0.2.1:8080/CW0210260051.enc"
	expectEnv(t, "udhcpc (after reload)", env, map[string]string{
		"bootfile": url, "opt43": hex.EncodeToString(bytes.Join([][]byte{tlv(1, "CW0210260051.enc"), tlv(3, "http"), tlv(5, "8080")}, nil)),
	})
}

// TestProfilesDHClient6: dhclient -6 of the http profile (by its inventory
// serial) gets option 59 as http://[address]:port/, the profile's DNS
// instead of the subnet's, NTP as options 56 and 31, and the domain
// search list.
func TestProfilesDHClient6(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	mac := strings.TrimSpace(run(t, l.cli.NS, false, "cat", "/sys/class/net/"+l.cli.Name+"/address"))
	inv := filepath.Join(l.dir, "inventory")
	_ = os.WriteFile(inv, []byte(mac+" SONIC-0042\n"), 0o644)
	s := l.start(l.config(fmt.Sprintf("  inventory: %s\n  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n    dns: [\"2001:db8::99\"]\n%s",
		inv, l.srv.Name, profilesYAML)))
	for _, link := range []*netns.Link{l.srv, l.cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(l.dir, "hook6.out")
	conf := filepath.Join(l.dir, "dhclient6.conf")
	_ = os.WriteFile(conf, []byte(`option dhcp6.bootfile-url code 59 = string;
option dhcp6.ntp56 code 56 = string;
request dhcp6.bootfile-url, dhcp6.name-servers, dhcp6.domain-search, dhcp6.sntp-servers, dhcp6.ntp56;
`), 0o644)
	pid := filepath.Join(l.dir, "pid6")
	run(t, l.cli.NS, false, "dhclient", "-6", "-1", "-sf", hookScript(t, l.dir, out), "-cf", conf,
		"-lf", filepath.Join(l.dir, "leases6"), "-pf", pid, l.cli.Name)
	defer run(t, l.cli.NS, true, "dhclient", "-6", "-x", "-pf", pid)
	env := boundEnv(t, out)
	url := "http://[2001:db8::1]:8080/SONIC-0042.enc"
	expectEnv(t, "dhclient -6", env, map[string]string{
		"new_dhcp6_bootfile_url": url, "new_dhcp6_name_servers": "2001:db8::53",
		"new_dhcp6_domain_search": "pop1.example.net.", "new_dhcp6_sntp_servers": "2001:db8::123",
	})
	want56 := append([]byte{0, 1, 0, 16}, netip6(t, "2001:db8::123")...)
	t.Logf("option 56: %s", env["new_dhcp6_ntp56"])
	if got := dhclientBytes(env["new_dhcp6_ntp56"]); !bytes.Equal(got, want56) {
		t.Errorf("option 56 = % x (%q), want % x", got, env["new_dhcp6_ntp56"], want56)
	}
	if ack := s.wait("dhcp.ack", nil); ack["profile"] != "mx-http" || ack["bootfile"] != url {
		t.Errorf("dhcp.ack: %v", ack)
	}
}

func netip6(t *testing.T, s string) []byte {
	t.Helper()
	ip := net.ParseIP(s).To16()
	if ip == nil {
		t.Fatalf("bad address %s", s)
	}
	return ip
}
