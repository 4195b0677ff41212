package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/netns"
)

const demoSerial = "SN19842256" // RFC 8886 Appendix A's device

const demoConfig = `hostname pe1.pop1
radius-server host 192.0.2.10 key 7 s3cr3t
tacacs-server key t4c4cs
`

func newDemoCmd(std stdio) *cobra.Command {
	return newCommand(&cobra.Command{
		Use:   "demo",
		Short: "A throwaway lab: sealboot and an emulated device (root)",
		Long: `Demo builds a throwaway lab (two network namespaces, needs root), runs
sealboot serve in one and boots an emulated RFC 8886 device in the other
over TFTP, then one over HTTP (its boot profile offers it an image, whose
download is cut and resumed), then an emulated SZTP (RFC 8572) device,
printing the events. Everything is removed at the end, and on Ctrl-C.`,
		Example: "  sudo sealboot demo\n  sudo go run ./cmd/sealboot demo",
		Args:    noArgs,
	}, func(cmd *cobra.Command, _ []string) error {
		if err := netns.Check(); err != nil {
			return fmt.Errorf("%w (run it with sudo)", err)
		}
		d := &demo{std: std}
		defer d.cleanup()
		return d.run(cmd.Context())
	})
}

type demo struct {
	std      stdio
	dir      string
	srv, dev *netns.Link
	server   *exec.Cmd
	refused  chan struct{} // closed at the device's first refused fetch
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.std.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if d.dir, err = os.MkdirTemp("", "sealboot-demo"); err != nil {
		return err
	}
	if err := d.network(); err != nil {
		return err
	}
	keys, configs, devDir := filepath.Join(d.dir, "state", "keys"), filepath.Join(d.dir, "state", "configs"), filepath.Join(d.dir, "device")
	for _, p := range []string{keys, configs, devDir} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
	}
	id, err := keystore.GenerateDevice(demoSerial, keystore.P256)
	if err != nil {
		return err
	}
	if err := writeIdentity(id, demoSerial, devDir, keys); err != nil {
		return err
	}
	d.say("1. factory: %s has a P-256 key; its certificate (CN=%s) is in the keystore", demoSerial, demoSerial)
	sz, err := d.prepareSZTP()
	if err != nil {
		return err
	}
	cfgFile, httpKey, err := d.prepareHTTP()
	if err != nil {
		return err
	}
	if err := d.startServer(ctx, self, cfgFile, sz.env); err != nil {
		return err
	}
	d.say("3. the device boots before its config exists, and retries every second (RFC 8886 4.3)")
	result := make(chan []byte, 1)
	boot := d.dev.NS.Command(ctx, self, "device", "boot", "--serial", demoSerial, "--key", filepath.Join(devDir, demoSerial+".key"),
		"--iface", d.dev.Name, "--vendor", "juniper", "--require-encrypted", "--retry", "1s", "--max-attempts", "30",
		"--install", filepath.Join(devDir, "installed.cfg"))
	go func() { out, _ := boot.Output(); result <- out }()
	if err := d.finish(ctx, configs, devDir, result); err != nil {
		return err
	}
	if err := d.bootHTTP(ctx, self, httpKey); err != nil {
		return err
	}
	return d.bootSZTP(ctx, self, sz)
}

// network makes the server and device namespaces and the link between them.
func (d *demo) network() error {
	s, err := netns.Create("sbdemS")
	if err != nil {
		return err
	}
	d.srv = &netns.Link{NS: s, Addrs: []string{"192.0.2.1/24"}}
	v, err := netns.Create("sbdemD")
	if err != nil {
		return err
	}
	d.dev = &netns.Link{NS: v}
	return netns.Veth(d.srv, d.dev)
}

// startServer runs sealboot serve on cfgFile (HTTP and the boot profile)
// and its built-in defaults, with the lab's other settings as SEALBOOT_*
// environment variables, and prints its events.
func (d *demo) startServer(ctx context.Context, self, cfgFile string, extraEnv []string) error {
	d.server = d.srv.NS.Command(ctx, self, "serve", "--config", cfgFile)
	d.server.Env = append(os.Environ(),
		"SEALBOOT_STATE_DIR="+filepath.Join(d.dir, "state"), "SEALBOOT_TFTP_LISTEN=192.0.2.1:69",
		"SEALBOOT_DHCP_ENABLED=true", "SEALBOOT_DHCP_V4_INTERFACES="+d.srv.Name,
		"SEALBOOT_DHCP_V4_POOL=192.0.2.100-192.0.2.199", "SEALBOOT_DHCP_V4_NETMASK=255.255.255.0",
		"SEALBOOT_WATCH_SETTLE=100ms", "SEALBOOT_LOG_FORMAT=json",
		// Its own control socket: a sealboot service on this host has /run/sealboot's.
		"SEALBOOT_ADMIN_SOCKET="+filepath.Join(d.dir, "admin.sock"))
	d.server.Env = append(d.server.Env, extraEnv...)
	stderr, err := d.server.StderrPipe()
	if err != nil {
		return err
	}
	if err := d.server.Start(); err != nil {
		return err
	}
	ready, exited := make(chan struct{}), make(chan string, 1)
	d.refused = make(chan struct{})
	go func() { exited <- d.printEvents(stderr, ready) }()
	select {
	case <-ready:
	case last := <-exited:
		return fmt.Errorf("sealboot serve exited before it was ready: %s", last)
	case <-ctx.Done():
		return ctx.Err()
	}
	d.say("2. sealboot serve is up in namespace %s: DHCP on %s, TFTP on 192.0.2.1:69, HTTP on 192.0.2.1:80, SZTP on 192.0.2.1:8443", d.srv.NS.Name, d.srv.Name)
	return nil
}

// printEvents shows the server's events, one line each, until it exits;
// it returns the last line that was not an event (serve's error, if any).
func (d *demo) printEvents(r io.Reader, ready chan struct{}) (last string) {
	sc := bufio.NewScanner(r)
	isReady, isRefused := false, false
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			last = sc.Text()
			continue
		}
		if m["msg"] == "sealboot ready" && !isReady {
			isReady = true
			close(ready)
		}
		if m["event"] == "tftp.fetch" && m["outcome"] != "served" && !isRefused {
			isRefused = true
			close(d.refused)
		}
		ev, _ := m["event"].(string)
		if ev == "" && m["level"] != "error" {
			continue
		}
		var b strings.Builder
		for _, k := range []string{"outcome", "state", "serial", "ip", "bootfile", "file", "mode", "progress_type", "remote", "status", "range", "bytes", "sha256", "reason", "error"} {
			if v, ok := m[k]; ok && v != "" && v != nil {
				if f, isNum := v.(float64); isNum && f == float64(int64(f)) {
					v = int64(f) // JSON numbers: 8388608, not 8.388608e+06
				}
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
		}
		d.say("   [sealboot] %-16s%s", ev, b.String())
	}
	return last
}

// finish drops the config once the device has been refused, then waits
// for the device's result and checks what it installed.
func (d *demo) finish(ctx context.Context, configs, devDir string, result chan []byte) error {
	select {
	case <-d.refused:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.say("4. the operator drops %s.cfg into the configs directory", demoSerial)
	if err := os.WriteFile(filepath.Join(configs, demoSerial+".cfg"), []byte(demoConfig), 0o600); err != nil {
		return err
	}
	var out []byte
	select {
	case out = <-result:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.say("5. the device says: %s", strings.TrimSpace(string(out)))
	installed, err := os.ReadFile(filepath.Join(devDir, "installed.cfg"))
	if err != nil {
		return fmt.Errorf("the device installed nothing: %w", err)
	}
	got, want := sha256.Sum256(installed), sha256.Sum256([]byte(demoConfig))
	if got != want {
		return fmt.Errorf("installed config differs from the operator's (sha256 %x vs %x)", got[:8], want[:8])
	}
	d.say("6. installed config sha256 %s matches the operator's plaintext; it crossed the wire only as CMS ciphertext", hex.EncodeToString(got[:]))
	return nil
}

func (d *demo) cleanup() {
	if d.server != nil && d.server.Process != nil {
		_ = d.server.Process.Kill()
		_ = d.server.Wait()
	}
	for _, l := range []*netns.Link{d.srv, d.dev} {
		if l != nil && l.NS != nil {
			_ = l.NS.Close()
		}
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
	d.say("lab removed")
}
