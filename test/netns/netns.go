// Package netns builds throwaway network namespaces joined by veth pairs, for
// the end-to-end tests and for `sealboot demo`, or by a SlowLink (a TUN
// device in each and a forwarder that delays every packet) where a test or a
// benchmark needs a wide-area round trip and the kernel has no netem. It
// drives iproute2 (`ip`) and needs root; Check reports why it cannot run so
// tests can skip cleanly. README.md has the measured accuracy of SlowLink.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	vnetns "github.com/vishvananda/netns"
)

// NS is a named network namespace created by this package.
type NS struct {
	Name string
}

// Check reports why namespaces cannot be created here (not root, no `ip`),
// or nil when they can.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2 is missing: %w", err)
	}
	return nil
}

// RandomName returns prefix followed by 8 random hex digits, short enough for
// an interface name (15 characters) when prefix has at most 7.
func RandomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Create makes a new namespace with a random name starting with prefix,
// brings its loopback up and turns off IPv6 duplicate address detection so
// addresses are usable at once.
func Create(prefix string) (*NS, error) {
	ns := &NS{Name: RandomName(prefix)}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	for _, argv := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"},
		{"sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"},
	} {
		if err := ns.Run(argv...); err != nil {
			_ = ns.Close()
			return nil, err
		}
	}
	return ns, nil
}

// Close deletes the namespace; processes still inside keep it alive until
// they exit.
func (ns *NS) Close() error {
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Command returns a command that runs argv inside the namespace.
func (ns *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, argv...)...)
}

// Run runs argv inside the namespace and returns an error carrying its
// output when it fails.
func (ns *NS) Run(argv ...string) error {
	_, err := ns.Output(argv...)
	return err
}

// Output runs argv inside the namespace and returns its combined output.
func (ns *NS) Output(argv ...string) (string, error) {
	out, err := ns.Command(context.Background(), argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v: %s", ns.Name, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Do runs fn on an OS thread switched into the namespace. Sockets opened by fn
// stay in the namespace after Do returns, so a server can be started in
// process inside a namespace.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it is left in the namespace and the
		// runtime discards it when this goroutine exits.
		runtime.LockOSThread()
		h, err := vnetns.GetFromName(ns.Name)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns.Name, err)
			return
		}
		defer h.Close()
		if err := vnetns.Set(h); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Link is one end of a veth pair.
type Link struct {
	NS    *NS
	Name  string
	Addrs []string // CIDR, e.g. 192.0.2.1/24 or 2001:db8::1/64
}

// Veth joins a and b with a veth pair, assigns their addresses and brings
// both ends up. An empty Name gets a random one.
func Veth(a, b *Link) error {
	for _, l := range []*Link{a, b} {
		if l.Name == "" {
			l.Name = RandomName("veth")
		}
	}
	argv := []string{"ip", "link", "add", a.Name, "netns", a.NS.Name, "type", "veth", "peer", "name", b.Name, "netns", b.NS.Name}
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	for _, l := range []*Link{a, b} {
		for _, addr := range l.Addrs {
			args := []string{"ip", "addr", "add", addr, "dev", l.Name}
			if strings.Contains(addr, ":") {
				// Without nodad an IPv6 address stays tentative for about
				// a second of duplicate address detection, pointless on a
				// veth pair made here, and a test that uses it at once fails.
				args = append(args, "nodad")
			}
			if err := l.NS.Run(args...); err != nil {
				return err
			}
		}
		if err := l.NS.Run("ip", "link", "set", l.Name, "up"); err != nil {
			return err
		}
	}
	return nil
}

// WaitLinkLocal waits until the link has a usable (non-tentative) IPv6
// link-local address, which DHCPv6 clients bind to.
func (l *Link) WaitLinkLocal(ctx context.Context) error {
	for {
		out, err := l.NS.Output("ip", "-6", "addr", "show", "dev", l.Name, "scope", "link")
		if err != nil {
			return err
		}
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no usable link-local address on %s: %w", l.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
