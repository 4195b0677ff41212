//go:build soak

package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/test/device"
	"github.com/sealboot/sealboot/test/netns"
)

// sealbootBin is built once by TestMain.
var sealbootBin string

func TestMain(m *testing.M) {
	if netns.Check() == nil {
		dir, err := os.MkdirTemp("", "sealboot-soak")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sealbootBin = filepath.Join(dir, "sealboot")
		if out, err := exec.Command("go", "build", "-o", sealbootBin, "../../cmd/sealboot").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build sealboot: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// settings come from the environment, so `make soak` can shorten the run.
type settings struct {
	duration, warmup time.Duration // SOAK_DURATION (10m), SOAK_WARMUP (30s)
	dhcpRate         int           // SOAK_DHCP_RATE: perfdhcp 4-way exchanges a second (100)
	dhcpClients      int           // SOAK_DHCP_CLIENTS: distinct perfdhcp clients (2000)
	devices          int           // SOAK_DEVICES: emulated devices booting each round (40)
	results          string        // SOAK_RESULTS: a Markdown file to append the results to
}

func loadSettings(t *testing.T) settings {
	s := settings{duration: 10 * time.Minute, warmup: 30 * time.Second, dhcpRate: 100, dhcpClients: 2000, devices: 40,
		results: os.Getenv("SOAK_RESULTS")}
	for name, d := range map[string]*time.Duration{"SOAK_DURATION": &s.duration, "SOAK_WARMUP": &s.warmup} {
		if v := os.Getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil {
				t.Fatalf("%s=%q: %v", name, v, err)
			}
		}
	}
	for name, n := range map[string]*int{"SOAK_DHCP_RATE": &s.dhcpRate, "SOAK_DHCP_CLIENTS": &s.dhcpClients, "SOAK_DEVICES": &s.devices} {
		if v := os.Getenv(name); v != "" {
			var err error
			if *n, err = strconv.Atoi(v); err != nil || *n <= 0 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
		}
	}
	return s
}

// lab is sealboot in one namespace, perfdhcp and the devices in another,
// on a veth pair: 192.0.2.0/24 for the devices (sealboot's own pool; half
// of them fetch over HTTP, as a boot profile tells them), 10.0.0.0/16 for
// perfdhcp, which acts as a relay (a relayed subnet's pool).
type lab struct {
	t        *testing.T
	dir      string
	srv, cli *netns.Link
	cfg      string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{}
	variant  int // which of two DNS settings the configuration file has
	// httpSerials are the devices a boot profile sends to the HTTP server.
	httpSerials []string
}

const configYAML = `state_dir: %[1]s/state
log:
  level: info
metrics:
  listen: 192.0.2.1:9100
  pprof: true
http:
  listen: ["192.0.2.1:8080"]
watch:
  settle: 100ms
keystore:
  settle: 100ms
tftp:
  listen: ["192.0.2.1:69"]
  timeout: 1s
dhcp:
  enabled: true
  serve_unknown: true
  v4:
    interfaces: [%[2]s]
    server_id: 192.0.2.1
    pool: 192.0.2.100-192.0.2.250
    netmask: 255.255.255.0
    dns: [192.0.2.%[3]d]
    lease_time: 1h
    subnets:
      - network: 10.0.0.0/16
        pool: 10.0.1.0-10.0.255.250
        netmask: 255.255.0.0
        lease_time: 1h
profiles:
  - name: soak-http
    vendor: arista
    serials: [%[4]s]
    transport: http
`

func newLab(t *testing.T, devices int) *lab {
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, p := range []string{"perfdhcp", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (test/deps.sh)", p)
		}
	}
	srv, cli := netns.Pair(t, []string{"192.0.2.1/24", "10.0.0.1/16"}, []string{"10.0.0.2/16", "192.0.2.251/24"})
	l := &lab{t: t, dir: t.TempDir(), srv: srv, cli: cli}
	for i, serial := range device.FleetSerials("SK", devices) {
		if i%2 == 0 {
			l.httpSerials = append(l.httpSerials, serial)
		}
	}
	l.cfg, l.logPath = filepath.Join(l.dir, "sealboot.yaml"), filepath.Join(l.dir, "sealboot.log")
	for _, d := range []string{"state/keys", "state/configs", "devkeys", "churn"} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	l.writeConfig()
	return l
}

func (l *lab) keysDir() string    { return filepath.Join(l.dir, "state/keys") }
func (l *lab) configsDir() string { return filepath.Join(l.dir, "state/configs") }

// writeConfig writes the configuration file, with the DNS server of the
// current variant (each SIGHUP flips it, so every reload applies a change).
func (l *lab) writeConfig() {
	yaml := fmt.Sprintf(configYAML, l.dir, l.srv.Name, 53+l.variant, strings.Join(l.httpSerials, ", "))
	tmp := l.cfg + ".tmp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.cfg); err != nil {
		l.t.Fatal(err)
	}
}

// start runs sealboot serve, its log appended to sealboot.log, and waits
// until it is ready.
func (l *lab) start() {
	l.t.Helper()
	logf, err := os.OpenFile(l.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		l.t.Fatal(err)
	}
	before := countLines(l.logPath, "sealboot ready")
	l.cmd = l.srv.NS.Command(context.Background(), sealbootBin, "serve", "--config", l.cfg)
	l.cmd.Stderr = logf
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.done = make(chan struct{})
	go func() { _ = l.cmd.Wait(); logf.Close(); close(l.done) }()
	l.t.Cleanup(func() { l.signal(syscall.SIGKILL); <-l.done })
	waitFor(l.t, "sealboot ready", func() bool {
		select {
		case <-l.done:
			l.t.Fatalf("sealboot exited at start: %v", l.cmd.ProcessState)
		default:
		}
		return countLines(l.logPath, "sealboot ready") > before
	})
}

func (l *lab) signal(sig syscall.Signal) { _ = l.cmd.Process.Signal(sig) }

// running says whether sealboot is still up.
func (l *lab) running() bool {
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// metrics scrapes /metrics from inside the server's namespace.
func (l *lab) metrics() (map[string]float64, error) {
	out, err := l.srv.NS.Output("curl", "-sS", "--max-time", "5", "http://192.0.2.1:9100/metrics")
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("still waiting for %s", what)
		case <-tick.C:
		}
	}
}

func countLines(path, substr string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), substr)
}

// TestSoak runs the mixed load for the warm-up and then SOAK_DURATION,
// sampling every 10 s, and checks what the package documentation says.
func TestSoak(t *testing.T) {
	set := loadSettings(t)
	l := newLab(t, set.devices)
	fleet := newFleet(t, l, set.devices)
	l.start()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	start := time.Now()
	perf := startPerfdhcp(t, l, set, set.warmup+set.duration)
	var wg sync.WaitGroup
	var rounds sync.Mutex // held by a device round; the sampler takes it between rounds
	wg.Go(func() { fleet.rounds(ctx, &rounds) })
	wg.Go(func() { fleet.churnConfigs(ctx, time.Second) })
	wg.Go(func() { fleet.churnCertificates(ctx, 5*time.Second) })
	hups := &reloader{l: l}
	wg.Go(func() { hups.run(ctx, 3*time.Second) })

	samples := sampleUntil(t, l, &rounds, start.Add(set.warmup), start.Add(set.warmup+set.duration))
	perfStats := perf.wait()
	cancel()
	wg.Wait()
	if !l.running() {
		t.Fatalf("sealboot exited during the soak: %v", l.cmd.ProcessState)
	}
	idle := waitIdleSample(t, l)
	leases := checkLeases(t, l, fleet)
	r := report{set: set, samples: samples, idle: idle, perf: perfStats, fleet: fleet.summary(), hups: hups.count(),
		leases: leases, log: summariseLog(t, l.logPath)}
	r.check(t)
	r.write(t)
}
