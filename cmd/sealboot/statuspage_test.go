package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sealboot/sealboot/keystore"
)

// tftpGet asks server for file as a TFTP client would, without options,
// and reads the whole file (abort: answers the first block with an error
// instead, as a client that gives up does). It returns the bytes, or the
// server's error message.
func tftpGet(t *testing.T, server, file string, abort bool) (data []byte, refusal string) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, _ := net.ResolveUDPAddr("udp4", server)
	if _, err := conn.WriteTo([]byte("\x00\x01"+file+"\x00octet\x00"), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("tftp %s: %v", file, err)
		}
		switch {
		case n >= 4 && buf[1] == 5:
			return nil, strings.TrimRight(string(buf[4:n]), "\x00")
		case n < 4 || buf[1] != 3:
			t.Fatalf("tftp %s: unexpected packet % x", file, buf[:n])
		case abort:
			_, _ = conn.WriteTo([]byte("\x00\x05\x00\x00giving up\x00"), from)
			return nil, ""
		}
		data = append(data, buf[4:n]...)
		_, _ = conn.WriteTo([]byte{0, 4, buf[2], buf[3]}, from)
		if n < 516 {
			return data, ""
		}
	}
}

// TestStatusPageInChromium: a running sealboot (the real binary, TFTP on
// loopback, binding check off) with five devices in five phases made by
// real fetches; headless Chromium, driven over DevTools, renders every
// device with its phase, the failing filter shows only the failing one,
// a serial clicks through to its story, and every request the pages make
// goes to sealboot's own address.
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian package chromium; test/deps.sh installs it)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute)
	for serial, files := range map[string]string{"SERVED": "key,config", "FAILING": "key,config", "WAITDEV": "key,config", "NOCERT": "config", "NOCONF": "key"} {
		for _, f := range strings.Split(files, ",") {
			path, data := filepath.Join(dir, "configs", serial+".cfg"), []byte("hostname "+serial+"\n")
			if f == "key" {
				id, err := keystore.GenerateDevice(serial, keystore.P256)
				if err != nil {
					t.Fatal(err)
				}
				path, data = filepath.Join(dir, "keys", serial+".crt"), id.CertPEM
			}
			_ = os.MkdirAll(filepath.Dir(path), 0o700)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_ = os.Chtimes(path, old, old)
		}
	}
	tftpAddr := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	httpAddr := freeTCPAddr(t)
	cfg := filepath.Join(dir, "sealboot.yaml")
	_ = os.WriteFile(cfg, fmt.Appendf(nil, "state_dir: %s\ntftp:\n  listen: [%q]\n  binding_check: false\nmetrics:\n  listen: %s\nadmin:\n  socket: \"off\"\n", dir, tftpAddr, httpAddr), 0o600)
	d := startDaemon(t, bin, nil, "--config", cfg)
	d.waitFor("sealboot ready")

	if data, why := tftpGet(t, tftpAddr, "SERVED.enc", false); len(data) == 0 {
		t.Fatalf("SERVED refused: %s", why)
	}
	for range 3 {
		tftpGet(t, tftpAddr, "FAILING.enc", true)
	}
	tftpGet(t, tftpAddr, "NOCERT.enc", false)
	tftpGet(t, tftpAddr, "NOCONF.enc", false)
	base := "http://" + httpAddr
	want := map[string]string{"SERVED": "served", "FAILING": "failing", "WAITDEV": "waiting_for_device", "NOCERT": "waiting_for_certificate", "NOCONF": "waiting_for_config"}
	waitPhases(t, base, want)

	ctx, cancel := chromedp.NewExecAllocator(t.Context(), chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	rows := func() map[string]string {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#devices"))); err != nil {
			t.Fatal(err)
		}
		list, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr.device")).map(r => r.dataset.serial + " " + r.querySelector(".phase").textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range list {
			s, p, _ := strings.Cut(r, " ")
			out[s] = p
		}
		return out
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if got := rows(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the page shows %v, want %v", got, want)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[data-phase="failing"]`)), chromedp.WaitVisible(chromedp.CSS(`a.failing.active`))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(); !strings.HasSuffix(loc, "/?phase=failing") || fmt.Sprint(got) != "map[FAILING:failing]" {
		t.Fatalf("filtered to failing (%s): %v", loc, got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/devices/FAILING"]`)), chromedp.WaitVisible(chromedp.CSS("#story"))); err != nil {
		t.Fatal(err)
	}
	story, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr.event")).map(r => r.cells[1].textContent + " " + r.cells[2].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.Index(story, "tftp.fetch aborted"); n < 0 || len(story) < 3 {
		t.Fatalf("FAILING's story: %v", story)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) < 3 {
		t.Fatalf("%d requests recorded", len(requests))
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page asked another host: %s", u)
		}
	}
	if !t.Failed() {
		t.Logf("Chromium rendered %d devices, filtered to failing, opened FAILING's story (%d events); its %d requests all went to %s", len(want), len(story), len(requests), base)
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitPhases polls the API until every device is in the phase want says.
func waitPhases(t *testing.T, base string, want map[string]string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got map[string]string
	for {
		got = map[string]string{}
		if resp, err := http.Get(base + "/api/v1/devices"); err == nil {
			var l struct {
				Devices []struct{ Serial, Phase string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&l)
			resp.Body.Close()
			for _, d := range l.Devices {
				got[d.Serial] = d.Phase
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("phases %v, want %v", got, want)
		case <-tick.C:
		}
	}
}
