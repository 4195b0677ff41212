package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/netns"
)

// segment puts devices on the lab's client link: a bridge in the client
// namespace joins it and one veth per device, each device in a namespace
// of its own, so that several devices share the server's DHCP segment.
func (l *lab) segment(t *testing.T, n int) []*netns.Link {
	t.Helper()
	br := netns.RandomName("br")
	for _, argv := range [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "link", "set", l.cli.Name, "master", br},
		{"ip", "link", "set", br, "up"},
	} {
		if err := l.cli.NS.Run(argv...); err != nil {
			t.Fatal(err)
		}
	}
	var devs []*netns.Link
	for range n {
		dev := &netns.Link{NS: netns.New(t, "sbD")}
		port := &netns.Link{NS: l.cli.NS}
		if err := netns.Veth(dev, port); err != nil {
			t.Fatal(err)
		}
		if err := l.cli.NS.Run("ip", "link", "set", port.Name, "master", br); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, dev)
	}
	return devs
}

// lease takes a DHCP lease for serial on dev with dhclient and returns the
// address; dhclient is stopped when the test ends.
func (l *lab) lease(t *testing.T, dev *netns.Link, serial string) string {
	t.Helper()
	work := filepath.Join(l.dir, "dhclient-"+serial)
	script, _ := filepath.Abs("testdata/lease.sh")
	out := run(t, dev.NS, false, "bash", script, dev.Name, serial, work)
	t.Cleanup(func() { _ = dev.NS.Run("dhclient", "-x", "-pf", filepath.Join(work, "dhclient.pid")) })
	lines := strings.Fields(out)
	return lines[len(lines)-1]
}

// httpClients are the real HTTP clients a device may carry; OUT and URL
// are replaced. Each fails (non-zero exit) on a 404.
var httpClients = []struct {
	name string
	argv []string
}{
	{"curl", []string{"curl", "-sS", "--fail", "-o", "OUT", "URL"}},
	{"wget", []string{"wget", "-q", "-O", "OUT", "URL"}},
	{"busybox wget", []string{"busybox", "wget", "-q", "-O", "OUT", "URL"}},
}

func clientArgv(argv []string, out, url string) []string {
	a := append([]string(nil), argv...)
	for i := range a {
		switch a[i] {
		case "OUT":
			a[i] = out
		case "URL":
			a[i] = url
		}
	}
	return a
}

// TestHTTPRealClients: curl, wget and busybox wget fetch a device's sealed
// config over HTTP from the namespace holding that device's DHCP lease, and
// openssl opens it to the exact plaintext; from another device's namespace
// they get 404 and a binding_mismatch event; the plaintext name is never
// served.
func TestHTTPRealClients(t *testing.T) {
	need(t, "dhclient", "curl", "wget", "busybox", "openssl")
	l := newLab(t)
	s := l.start(l.config("http:\n  listen: [\"192.0.2.1:80\", \"[2001:db8::1]:80\"]\n"))
	devs := l.segment(t, 2)
	config := "set system host-name pe-http\nset system radius-server 192.0.2.10 secret s3cr3t-http\n"
	key := l.provision(t, s, "JNHTTP01", keystore.P256, config, false)
	l.provision(t, s, "JNHTTP02", keystore.RSA2048, "hostname other\n", false)
	ip1 := l.lease(t, devs[0], "JNHTTP01")
	ip2 := l.lease(t, devs[1], "JNHTTP02")
	t.Logf("JNHTTP01 leased %s, JNHTTP02 leased %s", ip1, ip2)
	for _, c := range httpClients {
		out := filepath.Join(l.dir, strings.ReplaceAll(c.name, " ", "-")+".enc")
		run(t, devs[0].NS, false, clientArgv(c.argv, out, "http://192.0.2.1/JNHTTP01.enc")...)
		plain := run(t, devs[0].NS, false, "openssl", "cms", "-decrypt", "-inform", "PEM", "-in", out, "-inkey", key)
		if plain != config {
			t.Fatalf("%s: decrypted %q", c.name, plain)
		}
		// The other device: 404, whatever the client.
		other := filepath.Join(l.dir, "other.enc")
		msg := run(t, devs[1].NS, true, clientArgv(c.argv, other, "http://192.0.2.1/JNHTTP01.enc")...)
		if _, err := os.Stat(other); err == nil {
			if b, _ := os.ReadFile(other); len(b) > 0 && !strings.Contains(string(b), "not found") {
				t.Fatalf("%s from another device got %q", c.name, b)
			}
			os.Remove(other)
		}
		t.Logf("%s from the other device: %s", c.name, strings.TrimSpace(msg))
		// The plaintext name, from the device itself.
		run(t, devs[0].NS, true, clientArgv(c.argv, filepath.Join(l.dir, "plain.cfg"), "http://192.0.2.1/JNHTTP01.cfg")...)
		if b, _ := os.ReadFile(filepath.Join(l.dir, "plain.cfg")); strings.Contains(string(b), "s3cr3t") {
			t.Fatalf("%s got the plaintext: %q", c.name, b)
		}
	}
	var served, mismatch, plainRefused int
	for _, ev := range s.events("http.fetch") {
		switch {
		case ev["outcome"] == "served" && ev["serial"] == "JNHTTP01" && strings.HasPrefix(ev["remote"].(string), ip1+":") && ev["mac"] != "":
			served++
		case ev["outcome"] == "binding_mismatch" && ev["serial"] == "JNHTTP01" && strings.HasPrefix(ev["remote"].(string), ip2+":") && ev["status"] == float64(404):
			mismatch++
		case ev["file"] == "/JNHTTP01.cfg" && ev["status"] == float64(404):
			plainRefused++
		}
	}
	if served != 3 || mismatch != 3 || plainRefused != 3 {
		t.Fatalf("events: %d served, %d binding_mismatch, %d plaintext refused; want 3 each:\n%s", served, mismatch, plainRefused, s.logText())
	}
}
