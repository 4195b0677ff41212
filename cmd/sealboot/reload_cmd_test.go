package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReloadCommand: `sealboot reload` asks serve on its control socket and
// waits for the outcome: exit 0 when applied, 1 with the problems when the
// file is refused (serve keeps its configuration and says so), 3 when no
// sealboot answers. It finds the socket as serve placed it, from
// $RUNTIME_DIRECTORY here, as under systemd, even when the file it would
// read admin.socket from is the broken one.
func TestReloadCommand(t *testing.T) {
	t.Parallel()
	bin := buildSealboot(t)
	dir := t.TempDir()
	runtimeDir := filepath.Join(dir, "run")
	cfg := filepath.Join(dir, "sealboot.yaml")
	write := func(level string) {
		y := fmt.Sprintf("state_dir: %s/state\ntftp:\n  listen: [\"127.0.0.1:%d\"]\nlog:\n  level: %s\n", dir, freeUDPPort(t), level)
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("info")
	env := append(os.Environ(), "RUNTIME_DIRECTORY="+runtimeDir)
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = env
	d := startProc(t, cmd)
	d.waitFor("sealboot ready")
	reload := func() (int, string) {
		c := exec.Command(bin, "reload", "--config", cfg)
		c.Env = env
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	// startProc points SEALBOOT_ADMIN_SOCKET elsewhere for serve; reload
	// must find that one: give it the same.
	for _, kv := range cmd.Env {
		if strings.HasPrefix(kv, "SEALBOOT_ADMIN_SOCKET=") {
			env = append(env, kv)
		}
	}

	if code, out := reload(); code != 0 || !strings.Contains(out, "sealboot reload: configuration reloaded") {
		t.Fatalf("good file: exit %d\n%s", code, out)
	}
	d.waitForField("configuration reloaded", "outcome", "applied")

	write("loud")
	code, out := reload()
	if code != 1 || !strings.Contains(out, "reload refused; the running configuration keeps serving") ||
		!strings.Contains(out, cfg+":5: log.level: invalid level \"loud\"") {
		t.Fatalf("broken file: exit %d, want 1 with the problem:\n%s", code, out)
	}
	d.waitForField("reload refused: the new configuration is invalid; the running one keeps serving", "outcome", "refused")

	c := exec.Command(bin, "reload", "--socket", filepath.Join(dir, "nobody.sock"))
	if err := c.Run(); c.ProcessState.ExitCode() != exitUnreachable {
		t.Errorf("no sealboot: %v, exit %d, want %d", err, c.ProcessState.ExitCode(), exitUnreachable)
	}
}
