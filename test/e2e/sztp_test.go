package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/netns"
)

// sztpFramed is RFC 8572 section 8.3's bootstrap-server-list: each URI
// after its length in two bytes.
func sztpFramed(uris ...string) []byte {
	var out []byte
	for _, u := range uris {
		out = binary.BigEndian.AppendUint16(out, uint16(len(u)))
		out = append(out, u...)
	}
	return out
}

// sztpYAML writes a TLS identity for the SZTP server and returns its
// section, with a profile of transport sztp for serial.
func (l *lab) sztpYAML(t *testing.T, serial string) string {
	t.Helper()
	ca, err := keystore.GenerateAuthority("Lab CA", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.Issue("sztp.lab", keystore.P256, keystore.IssueOptions{ServerIPs: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(l.dir, "sztp.pem"), filepath.Join(l.dir, "sztp.key")
	_ = os.WriteFile(cert, id.CertPEM, 0o600)
	_ = os.WriteFile(key, id.KeyPEM, 0o600)
	return fmt.Sprintf("sztp:\n  listen: [\"192.0.2.1:8443\", \"[2001:db8::1]:8443\"]\n  tls_cert: %s\n  tls_key: %s\n"+
		"profiles:\n  - name: sztp-devices\n    serials: [%s]\n    transport: sztp\n", cert, key, serial)
}

// TestSZTPDHClient: ISC dhclient, with option 143 declared, receives the
// URI list in RFC 8572's framing, as a device of a transport sztp profile
// and as any client that asks for the option; one that neither is nor asks
// gets none.
func TestSZTPDHClient(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	s := l.start(l.config(l.sztpYAML(t, "JN11F4C4DAFA")))
	if r := s.wait("sealboot ready", nil); !strings.Contains(fmt.Sprint(r["listen"]), "sztp 192.0.2.1:8443,[2001:db8::1]:8443") {
		t.Fatalf("ready line: %v", r)
	}
	const conf = `option sztp-redirect-urls code 143 = string;
send vendor-class-identifier "%s";
request subnet-mask, routers%s;
`
	want := sztpFramed("https://192.0.2.1:8443")
	env := l.dhclient4(t, "profile", fmt.Sprintf(conf, "Juniper-mx204-JN11F4C4DAFA", ""))
	// dhclient hands a declared option to its script whether or not it
	// asked for it; this device did not ask: its profile sends it.
	if got := dhclientBytes(env["new_sztp_redirect_urls"]); !bytes.Equal(got, want) {
		t.Errorf("profile device: option 143 = % x (%q), want % x", got, env["new_sztp_redirect_urls"], want)
	}
	t.Logf("option 143 as dhclient prints it: %s", env["new_sztp_redirect_urls"])
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:43:01")
	env = l.dhclient4(t, "asks", fmt.Sprintf(conf, "Juniper-mx204-JN22F4C4DAFA", ", sztp-redirect-urls"))
	if got := dhclientBytes(env["new_sztp_redirect_urls"]); !bytes.Equal(got, want) {
		t.Errorf("asking device: option 143 = % x", got)
	}
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:43:02")
	env = l.dhclient4(t, "neither", fmt.Sprintf(conf, "Juniper-mx204-JN33F4C4DAFA", ""))
	if got := env["new_sztp_redirect_urls"]; got != "" {
		t.Errorf("a device that neither asks nor has an sztp profile got option 143: %q", got)
	}
}

// TestSZTPDHClient6: dhclient -6, with option 136 declared and requested,
// receives the URI list with the server's IPv6 address in brackets, as a
// client with no serial DHCP recognises.
func TestSZTPDHClient6(t *testing.T) {
	need(t, "dhclient")
	l := newLab(t)
	// A client with no serial DHCP recognises: SZTP authenticates devices
	// itself, so one that asks for the option gets it (with serve_unknown,
	// which leases it an address at all).
	l.start(l.config(fmt.Sprintf("  serve_unknown: true\n  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", l.srv.Name) + l.sztpYAML(t, "NONE")))
	for _, link := range []*netns.Link{l.srv, l.cli} {
		if err := link.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(l.dir, "hook6.out")
	conf := filepath.Join(l.dir, "dhclient6.conf")
	_ = os.WriteFile(conf, []byte("option dhcp6.sztp-urls code 136 = string;\nrequest dhcp6.sztp-urls;\n"), 0o644)
	pid := filepath.Join(l.dir, "pid6")
	run(t, l.cli.NS, false, "dhclient", "-6", "-1", "-sf", hookScript(t, l.dir, out), "-cf", conf,
		"-lf", filepath.Join(l.dir, "leases6"), "-pf", pid, l.cli.Name)
	defer run(t, l.cli.NS, true, "dhclient", "-6", "-x", "-pf", pid)
	env := boundEnv(t, out)
	want := sztpFramed("https://[2001:db8::1]:8443")
	t.Logf("option 136 as dhclient prints it: %s", env["new_dhcp6_sztp_urls"])
	if got := dhclientBytes(env["new_dhcp6_sztp_urls"]); !bytes.Equal(got, want) {
		t.Fatalf("option 136 = % x (%q), want % x", got, env["new_dhcp6_sztp_urls"], want)
	}
}
