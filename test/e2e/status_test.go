package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
)

// TestStatusLab: a lab with five devices in five phases, made by real
// events: SERVED boots (DHCP, TFTP) and installs its config; FAILING's file
// is asked for three times from an address with no lease (the binding
// check refuses it); NOCERT boots but has no certificate; NOCONF boots but
// has no config; WAITDEV is ready and never boots. `sealboot status` names
// each phase, --json is JSON, SERVED's story lists its DHCP and fetch
// events in order, and headless Chromium renders the status page and its
// failing filter. With STATUS_PAGE_SCREENSHOT set, the page's
// screenshot is written there (docs/status-page.png).
func TestStatusLab(t *testing.T) {
	need(t, "curl")
	l := newLab(t)
	sock := l.socket()
	s := l.start(l.config("metrics:\n  listen: 192.0.2.1:9100\n"))
	keys := map[string]string{}
	for _, d := range []struct {
		serial string
		config string
		noCert bool
	}{
		{"SERVED", "hostname served\n", false}, {"FAILING", "hostname failing\n", false},
		{"WAITDEV", "hostname waitdev\n", false}, {"NOCERT", "hostname nocert\n", true}, {"NOCONF", "", false},
	} {
		keys[d.serial] = l.provision(t, s, d.serial, keystore.P256, d.config, d.noCert)
	}
	s.wait("certificate added", func(m map[string]any) bool { return m["serial"] == "NOCONF" })

	// Each device with a MAC of its own, as on a real segment.
	mac := func(n int) {
		run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", fmt.Sprintf("02:00:5e:00:53:%02x", n))
	}
	for i, serial := range []string{"NOCERT", "NOCONF"} {
		mac(i + 1)
		if res := l.boot(t, "--serial", serial, "--key", keys[serial], "--vendor", device.VendorJuniper, "--max-attempts", "1"); res.Installed() {
			t.Fatalf("%s installed: %+v", serial, res)
		}
	}
	mac(3)
	if res := l.boot(t, "--serial", "SERVED", "--key", keys["SERVED"], "--vendor", device.VendorJuniper, "--max-attempts", "1", "--keep-address"); !res.Installed() {
		t.Fatalf("SERVED: %+v", res)
	}
	run(t, l.cli.NS, false, "ip", "addr", "add", "192.0.2.250/24", "dev", l.cli.Name)
	for i := range 3 {
		run(t, l.cli.NS, true, "curl", "-sS", "--interface", "192.0.2.250", "-o", "/dev/null", "tftp://192.0.2.1/FAILING.enc")
		s.waitNth("tftp fetch binding_mismatch", i)
	}

	out, code := status(t, sock)
	t.Logf("sealboot status:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for serial, phase := range map[string]string{"SERVED": "served", "FAILING": "failing", "WAITDEV": "waiting_for_device",
		"NOCERT": "waiting_for_certificate", "NOCONF": "waiting_for_config"} {
		if !regexp.MustCompile(`(?m)^` + serial + ` +` + phase + ` `).MatchString(out) {
			t.Errorf("%s is not shown %s", serial, phase)
		}
	}

	js, _ := status(t, sock, "--json")
	var list struct {
		Summary struct {
			Devices int            `json:"devices"`
			Phases  map[string]int `json:"phases"`
		} `json:"summary"`
		Devices []map[string]any `json:"devices"`
	}
	if err := json.Unmarshal([]byte(js), &list); err != nil || list.Summary.Devices != 5 || len(list.Devices) != 5 {
		t.Fatalf("--json: %v\n%s", err, js)
	}
	for _, p := range []string{"served", "failing", "waiting_for_device", "waiting_for_certificate", "waiting_for_config"} {
		if list.Summary.Phases[p] != 1 {
			t.Errorf("--json: %d %s", list.Summary.Phases[p], p)
		}
	}

	story, code := status(t, sock, "SERVED")
	t.Logf("sealboot status SERVED:\n%s", story)
	if code != 0 || !inOrder(story, "dhcp.offer", "dhcp.ack", "tftp.fetch", "served") {
		t.Fatalf("exit %d; SERVED's story lacks DHCP then fetch events in order", code)
	}
	if out, code := status(t, sock, "FAILING"); code != 1 || !strings.Contains(out, "binding_mismatch") {
		t.Fatalf("FAILING: exit %d\n%s", code, out)
	}
	statusPageInChromium(t, l)
}

// status runs sealboot status against the lab's control socket.
func status(t *testing.T, sock string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(sealbootBin, append([]string{"status", "--socket", sock}, args...)...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// inOrder says whether the words appear in s in this order.
func inOrder(s string, words ...string) bool {
	for _, w := range words {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}

// statusPageInChromium renders the lab's status page in headless Chromium,
// run in the server's namespace, and checks the failing filter.
func statusPageInChromium(t *testing.T, l *lab) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium not installed (Debian package chromium): the status page is not rendered")
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	browse := func(args ...string) string {
		argv := append([]string{chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}, args...)
		out, err := l.srv.NS.Command(ctx, argv...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return string(out)
	}
	dom := browse("--dump-dom", "http://192.0.2.1:9100/")
	for _, serial := range []string{"SERVED", "FAILING", "WAITDEV", "NOCERT", "NOCONF"} {
		if !strings.Contains(dom, `data-serial="`+serial+`"`) {
			t.Errorf("the rendered page lacks %s", serial)
		}
	}
	failing := browse("--dump-dom", "http://192.0.2.1:9100/?phase=failing")
	if n := strings.Count(failing, `<tr class="device"`); n != 1 || !strings.Contains(failing, `data-serial="FAILING"`) {
		t.Errorf("filtered to failing: %d rows", n)
	}
	if dst := os.Getenv("STATUS_PAGE_SCREENSHOT"); dst != "" {
		shot := filepath.Join(l.dir, "status.png")
		browse("--hide-scrollbars", "--window-size=1500,520", "--screenshot="+shot, "http://192.0.2.1:9100/")
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", dst)
	}
}

// The model a device names in option 60 reaches sealboot status, which
// prints to the operator's terminal: an escape sequence in it (anyone on
// the segment can send one) is printed with its control characters
// replaced.
func TestStatusModelWithEscapes(t *testing.T) {
	l := newLab(t)
	sock := l.socket()
	s := l.start(l.config(""))
	key := l.provision(t, s, "SERVED", keystore.P256, "hostname served\n", false)
	l.boot(t, "--serial", "SERVED", "--key", key, "--vendor", device.VendorArista, "--model", "DCS\x1b[2J\x1b[31mRED", "--max-attempts", "1")
	out, _ := status(t, sock)
	if strings.ContainsRune(out, 0x1b) || !strings.Contains(out, "arista DCS?[2J?[31mRED") {
		t.Fatalf("sealboot status: %q", out)
	}
}
