//go:build soak

package soak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/test/device"
)

// fleet is the emulated devices (SK0001…) and what they may install: every
// version of its config written so far, by SHA-256. Churn serials
// (CH01…) have certificates and configs that come and go, and no device.
type fleet struct {
	t       *testing.T
	l       *lab
	serials []string

	mu       sync.Mutex
	versions map[string]map[string]bool // serial → SHA-256 of every version written
	version  int
	lastAck  map[string]device.Result // serial → its result in the latest round
	boots    int
	wrong    []string // results that are not the device's own config
	failed   []string // devices that installed nothing in a round
	refused  int      // stranger fetches refused
	leaked   []string // stranger fetches that got bytes
	roundsN  int
	certOps  map[string]int
	cfgOps   int
}

func newFleet(t *testing.T, l *lab, n int) *fleet {
	f := &fleet{t: t, l: l, serials: device.FleetSerials("SK", n), versions: map[string]map[string]bool{},
		lastAck: map[string]device.Result{}, certOps: map[string]int{}}
	host(t, sealbootBin, "device", "keygen", "--count", fmt.Sprint(n), "--serial-prefix", "SK",
		"--out", filepath.Join(l.dir, "devkeys"), "--certs-dir", l.keysDir())
	for _, s := range f.serials {
		f.writeConfig(s)
	}
	return f
}

// host runs a command outside the namespaces.
func host(t *testing.T, argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// writeConfig writes a new version of serial's config the way a deploy
// does (a dot file renamed into place) and records its SHA-256 first.
func (f *fleet) writeConfig(serial string) {
	f.mu.Lock()
	f.version++
	body := fmt.Sprintf("hostname %s\n! version %d\nsnmp-server community s3cr3t-%s-%d\n", serial, f.version, serial, f.version)
	sum := sha256.Sum256([]byte(body))
	if f.versions[serial] == nil {
		f.versions[serial] = map[string]bool{}
	}
	f.versions[serial][hex.EncodeToString(sum[:])] = true
	f.cfgOps++
	f.mu.Unlock()
	tmp := filepath.Join(f.l.configsDir(), "."+serial+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		f.t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(f.l.configsDir(), serial+".cfg")); err != nil {
		f.t.Error(err)
	}
}

// rounds boots the whole fleet again and again until ctx ends; each round
// also has a stranger (192.0.2.251, no lease) ask for a device's file.
func (f *fleet) rounds(ctx context.Context, mu *sync.Mutex) {
	for n := 0; ctx.Err() == nil; n++ {
		mu.Lock()
		f.round(ctx, n)
		f.stranger(ctx, f.serials[n%len(f.serials)])
		mu.Unlock()
		sleep(ctx, 500*time.Millisecond)
	}
}

func (f *fleet) round(ctx context.Context, n int) {
	results := filepath.Join(f.l.dir, "round.json")
	_ = os.Remove(results)
	cmd := f.l.cli.NS.Command(ctx, sealbootBin, "device", "boot", "--count", fmt.Sprint(len(f.serials)), "--serial-prefix", "SK",
		"--keys-dir", filepath.Join(f.l.dir, "devkeys"), "--iface", f.l.cli.Name, "--vendor", "arista", "--require-encrypted",
		"--retry", "200ms", "--max-attempts", "20", "--dhcp-timeout", "3s", "--tftp-timeout", "500ms", "--results", results)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return // stopped in the middle: not a failure
	}
	data, rerr := os.ReadFile(results)
	if rerr != nil {
		f.t.Errorf("round %d: %v: %v\n%s", n, err, rerr, out)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roundsN++
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r device.Result
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		f.boots++
		switch {
		case !r.Installed():
			f.failed = append(f.failed, fmt.Sprintf("round %d %s: %s %s", n, r.Serial, r.Outcome, r.Error))
		case !f.versions[r.Serial][r.SHA256]:
			f.wrong = append(f.wrong, fmt.Sprintf("round %d %s installed %s", n, r.Serial, r.SHA256))
		default:
			f.lastAck[r.Serial] = r
		}
	}
}

// stranger asks for serial's file from an address no lease names, over
// TFTP and HTTP: the binding check must refuse both.
func (f *fleet) stranger(ctx context.Context, serial string) {
	for _, url := range []string{"tftp://192.0.2.1/" + serial + ".enc", "http://192.0.2.1:8080/" + serial + ".enc"} {
		got := filepath.Join(f.l.dir, "stolen")
		_ = os.Remove(got)
		_ = f.l.cli.NS.Command(ctx, "curl", "-sSf", "--max-time", "10", "--interface", "192.0.2.251", "-o", got, url).Run()
		b, _ := os.ReadFile(got)
		f.mu.Lock()
		if len(b) > 0 {
			f.leaked = append(f.leaked, fmt.Sprintf("%s: %d bytes", url, len(b)))
		} else if ctx.Err() == nil {
			f.refused++
		}
		f.mu.Unlock()
	}
}

// churnConfigs writes a new version of a random device's config every
// period.
func (f *fleet) churnConfigs(ctx context.Context, period time.Duration) {
	for sleep(ctx, period) {
		f.writeConfig(f.serials[rand.IntN(len(f.serials))])
	}
}

// churnCertificates changes the keystore every period, as operators do
// with sealboot keys: a certificate imported, replaced (RMA, --replace) or
// removed, for serials with no device, and configs for them written or
// removed (ready ↔ waiting_for_certificate).
func (f *fleet) churnCertificates(ctx context.Context, period time.Duration) {
	churn := filepath.Join(f.l.dir, "churn")
	present := map[string]bool{}
	for sleep(ctx, period) {
		serial := fmt.Sprintf("CH%02d", rand.IntN(10)+1)
		keys := []string{sealbootBin, "keys", "--dir", f.l.keysDir()}
		op := "import"
		switch {
		case !present[serial]:
			f.keygen(churn, serial)
			host(f.t, append(keys, "import", filepath.Join(churn, serial+".crt"))...)
			present[serial] = true
		case rand.IntN(2) == 0:
			op = "replace"
			f.keygen(churn, serial)
			host(f.t, append(keys, "import", "--replace", filepath.Join(churn, serial+".crt"))...)
		default:
			op = "remove"
			host(f.t, append(keys, "remove", serial)...)
			present[serial] = false
		}
		cfg := filepath.Join(f.l.configsDir(), serial+".cfg")
		if rand.IntN(2) == 0 {
			_ = os.WriteFile(cfg, []byte("hostname "+serial+"\n"), 0o600)
		} else {
			_ = os.Remove(cfg)
		}
		f.mu.Lock()
		f.certOps[op]++
		f.mu.Unlock()
	}
}

func (f *fleet) keygen(dir, serial string) {
	host(f.t, sealbootBin, "device", "keygen", "--serial", serial, "--out", dir, "--certs-dir", dir)
}

// fleetSummary is what the devices saw.
type fleetSummary struct {
	rounds, boots, refused, configVersions int
	certOps                                map[string]int
	wrong, failed, leaked                  []string
}

func (f *fleet) summary() fleetSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fleetSummary{rounds: f.roundsN, boots: f.boots, refused: f.refused, configVersions: f.cfgOps,
		certOps: f.certOps, wrong: f.wrong, failed: f.failed, leaked: f.leaked}
}

// reloader flips the configuration file's DNS server and sends SIGHUP
// every period.
type reloader struct {
	l  *lab
	mu sync.Mutex
	n  int
}

func (r *reloader) run(ctx context.Context, period time.Duration) {
	for sleep(ctx, period) {
		r.l.variant = 1 - r.l.variant
		r.l.writeConfig()
		r.l.signal(syscall.SIGHUP)
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
	}
}

func (r *reloader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// sleep waits d and reports whether ctx is still going.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// perfdhcp runs in the client namespace as a relay (giaddr 10.0.0.2) at
// a steady rate, clients with no serial (dhcp.serve_unknown: true) taking
// the relayed subnet's pool.
type perfdhcp struct {
	cmd *exec.Cmd
	out bytes.Buffer
	t   *testing.T
}

// perfStats are perfdhcp's totals.
type perfStats struct {
	rate                string
	discovers, offers   int
	requests, acks      int
	dropsOffer, dropAck string
}

func startPerfdhcp(t *testing.T, l *lab, set settings, d time.Duration) *perfdhcp {
	p := &perfdhcp{t: t}
	p.cmd = l.cli.NS.Command(context.Background(), "perfdhcp", "-4", "-l", l.cli.Name, "-r", fmt.Sprint(set.dhcpRate),
		"-R", fmt.Sprint(set.dhcpClients), "-p", fmt.Sprint(int(d.Seconds())))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait waits for perfdhcp to end its run and reads its statistics.
func (p *perfdhcp) wait() perfStats {
	_ = p.cmd.Wait() // exits non-zero when it saw drops; the numbers say how many
	var s perfStats
	section := ""
	for _, line := range strings.Split(p.out.String(), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "***Statistics for:"):
			section = line
		case strings.HasPrefix(line, "Rate:"):
			s.rate = strings.TrimSpace(strings.TrimPrefix(line, "Rate:"))
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var n int
		fmt.Sscan(v, &n)
		disc := strings.Contains(section, "DISCOVER-OFFER")
		switch {
		case k == "sent packets" && disc:
			s.discovers = n
		case k == "received packets" && disc:
			s.offers = n
		case k == "sent packets":
			s.requests = n
		case k == "received packets":
			s.acks = n
		case k == "drops ratio" && disc:
			s.dropsOffer = strings.TrimSpace(v)
		case k == "drops ratio":
			s.dropAck = strings.TrimSpace(v)
		}
	}
	if s.acks == 0 {
		p.t.Errorf("perfdhcp got no ACK:\n%s", p.out.String())
	}
	return s
}
