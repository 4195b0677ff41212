// Package systemdtest boots systemd as PID 1 over a minimal Debian root (in
// its own PID, mount, network and cgroup namespaces, with the root as an overlay
// over a cached copy that rootfs.sh builds once) and drives the shipped
// unit there, as systemd/README.md installs it. Only its test uses it.
package systemdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine is systemd running as PID 1 of its own namespaces.
type machine struct {
	pid     int // systemd's PID, as the host sees it
	unshare *exec.Cmd
	root    string // the merged root, mounted inside its mount namespace only
	console bytes.Buffer
	done    chan struct{}
}

// bootScript mounts the root (an overlay of the cached root and upper) and
// execs systemd there. It runs in new PID, mount, UTS, IPC, network and
// cgroup namespaces: everything it mounts disappears with them, and its
// systemd manages the cgroup subtree the test runs in, not the host's.
const bootScript = `set -e
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs tmpfs "$ROOT/run"
mount -t tmpfs tmpfs "$ROOT/tmp"
# Shared within the machine, as / is on a booted system: systemd sets up a
# service's credentials in a child mount namespace and moves them into
# /run/credentials, which reaches PID 1's namespace only through
# propagation. (The host stays out of it: its mounts were made private
# above.)
mount --make-rshared "$ROOT"
export container=other
exec chroot "$ROOT" /lib/systemd/systemd --system
`

// boot starts systemd over lower (read-only) and upper (this test's files
// and changes), using dir for the overlay's work and mount directories, and
// returns once systemd's PID is known.
func boot(lower, upper, dir string) (*machine, error) {
	work, root := filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	m := &machine{root: root, done: make(chan struct{})}
	m.unshare = exec.Command("unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup", "bash", "-c", bootScript)
	m.unshare.Env = append(os.Environ(), "LOWER="+lower, "UPPER="+upper, "WORK="+work, "ROOT="+root)
	m.unshare.Stdout, m.unshare.Stderr = &m.console, &m.console
	if err := m.unshare.Start(); err != nil {
		return nil, err
	}
	go func() { _ = m.unshare.Wait(); close(m.done) }()
	children := fmt.Sprintf("/proc/%d/task/%d/children", m.unshare.Process.Pid, m.unshare.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-m.done:
			return nil, fmt.Errorf("the namespace ended before systemd ran: %s", m.console.String())
		default:
		}
		b, _ := os.ReadFile(children)
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.pid, _ = strconv.Atoi(f[0])
			return m, nil
		}
	}
	m.kill()
	return nil, errors.New("no systemd process after 30s")
}

// run runs argv inside the machine (all its namespaces, its root and
// working directory) and returns its combined output.
func (m *machine) run(stdin []byte, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard
	defer cancel()
	args := append([]string{"-t", strconv.Itoa(m.pid), "-a", "-r", "-w"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// path is p inside the machine's root, as the host reaches it.
func (m *machine) path(p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", m.pid), p)
}

// waitBooted waits until systemd has finished booting.
func (m *machine) waitBooted() error {
	var state string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		state, _ = m.run(nil, "systemctl", "is-system-running")
		switch state {
		case "running", "degraded":
			return nil
		}
	}
	return fmt.Errorf("systemd did not finish booting: %q", state)
}

// shutdown powers the machine off, and kills it if it does not end.
func (m *machine) shutdown() {
	_, _ = m.run(nil, "systemctl", "poweroff")
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.kill()
	}
}

func (m *machine) kill() {
	_ = m.unshare.Process.Signal(syscall.SIGKILL)
	if m.pid > 0 {
		_ = syscall.Kill(m.pid, syscall.SIGKILL) // PID 1 of its namespace: everything in it ends
	}
	<-m.done
}

// show returns a unit's property.
func (m *machine) show(unit, prop string) string {
	out, _ := m.run(nil, "systemctl", "show", "--value", "-p", prop, unit)
	return out
}
