//go:build soak

package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/test/device"
)

// sample is sealboot's state at one moment: from /proc and /metrics.
type sample struct {
	at         time.Duration // since the first sample
	goroutines float64       // go_goroutines
	fds        int           // entries in /proc/PID/fd
	metricFDs  float64       // process_open_fds
	rss        int64         // VmRSS, bytes
	heap       float64       // go_memstats_heap_inuse_bytes
	threads    int           // Threads in /proc/PID/status
}

// take reads the process's state. Goroutines and descriptors are the least
// of three readings 100 ms apart: a packet or transfer in flight at that
// instant is not the level a leak would raise.
func take(t *testing.T, l *lab, at time.Duration) sample {
	s := sample{at: at}
	pid := l.cmd.Process.Pid
	for i := range 3 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // readings spread over 200 ms
		}
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		m, err := l.metrics()
		if err != nil {
			t.Errorf("metrics at %s: %v", at, err)
			continue
		}
		if i == 0 || len(ents) < s.fds {
			s.fds = len(ents)
		}
		if g := m["go_goroutines"]; i == 0 || g < s.goroutines {
			s.goroutines = g
		}
		s.metricFDs, s.heap = m["process_open_fds"], m["go_memstats_heap_inuse_bytes"]
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = kb << 10
		case len(f) >= 2 && f[0] == "Threads:":
			s.threads, _ = strconv.Atoi(f[1])
		}
	}
	return s
}

// sampleUntil samples every 10 s from first to end, each time between two
// device rounds (it takes the rounds' lock), so a sample sees the steady
// DHCP and churn load and not a burst of transfers in flight. A slot missed
// while a round ran long is skipped, not made up. With SOAK_PROFILES set,
// a heap profile is saved there at each sample.
func sampleUntil(t *testing.T, l *lab, rounds *sync.Mutex, first, end time.Time) []sample {
	var out []sample
	for at := first; !at.After(end); at = nextSlot(at) {
		select {
		case <-t.Context().Done():
			return out
		case <-time.After(time.Until(at)):
		}
		rounds.Lock()
		s := take(t, l, time.Since(first).Round(time.Second))
		if dir := os.Getenv("SOAK_PROFILES"); dir != "" {
			_, _ = l.srv.NS.Output("curl", "-sS", "-o", filepath.Join(dir, fmt.Sprintf("heap-%04d.pb.gz", int(s.at.Seconds()))),
				"http://192.0.2.1:9100/debug/pprof/heap")
		}
		rounds.Unlock()
		out = append(out, s)
		if !l.running() {
			t.Fatalf("sealboot exited during the soak: %v", l.cmd.ProcessState)
		}
	}
	return out
}

// nextSlot is 10 s after at, or now when that has passed already.
func nextSlot(at time.Time) time.Time {
	next := at.Add(10 * time.Second)
	if now := time.Now(); now.After(next) {
		return now
	}
	return next
}

// waitIdleSample is one more sample 10 s after the load stopped.
func waitIdleSample(t *testing.T, l *lab) sample {
	time.Sleep(10 * time.Second) // a measurement schedule, not a wait for state
	return take(t, l, 0)
}

// leaseCheck compares the leases the devices were acknowledged with the
// journal sealboot leaves behind when killed with SIGKILL.
type leaseCheck struct {
	devices        int
	missing        []string
	before, after  float64 // sealboot_dhcp_leases{family="v4"} before the kill and after the restart
	journalBytes   int64
	journalRecords int
}

const leasesGauge = `sealboot_dhcp_leases{family="v4"}`

func checkLeases(t *testing.T, l *lab, f *fleet) leaseCheck {
	var c leaseCheck
	m, err := l.metrics()
	if err != nil {
		t.Fatal(err)
	}
	c.before = m[leasesGauge]
	l.signal(syscall.SIGKILL)
	<-l.done
	path := filepath.Join(l.dir, "state", "leases4.journal")
	if st, err := os.Stat(path); err == nil {
		c.journalBytes = st.Size()
	}
	byClient := map[string][]string{} // client id → the fields of its latest A record
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 6 && fields[0] == "A" {
			byClient[fields[3]] = fields
			c.journalRecords++
		}
	}
	file.Close()
	now := time.Now().Unix()
	f.mu.Lock()
	for serial, r := range f.lastAck {
		c.devices++
		rec := byClient["mac:"+device.FleetMAC(serial).String()]
		exp := int64(0)
		if rec != nil {
			exp, _ = strconv.ParseInt(rec[2], 10, 64)
		}
		if rec == nil || rec[1] != r.Address || rec[5] != serial || exp <= now {
			c.missing = append(c.missing, fmt.Sprintf("%s at %s: journal has %v", serial, r.Address, rec))
		}
	}
	f.mu.Unlock()
	l.start()
	if m, err = l.metrics(); err != nil {
		t.Fatal(err)
	}
	c.after = m[leasesGauge]
	return c
}

// logSummary counts sealboot's log lines.
type logSummary struct {
	lines, notJSON int
	levels         map[string]int
	fetches        map[string]int // tftp.fetch by outcome
	httpFetches    map[string]int // http.fetch by outcome
	reloads        map[string]int // config.reload by outcome
	errors         map[string]int // Error lines by message
}

func summariseLog(t *testing.T, path string) logSummary {
	s := logSummary{levels: map[string]int{}, fetches: map[string]int{}, httpFetches: map[string]int{}, reloads: map[string]int{}, errors: map[string]int{}}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		s.lines++
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			s.notJSON++
			continue
		}
		level := fmt.Sprint(m["level"])
		s.levels[level]++
		switch m["event"] {
		case "tftp.fetch":
			s.fetches[fmt.Sprint(m["outcome"])]++
		case "http.fetch":
			s.httpFetches[fmt.Sprint(m["outcome"])]++
		case "config.reload":
			s.reloads[fmt.Sprint(m["outcome"])]++
		}
		if level == "error" || level == "dpanic" || level == "panic" || level == "fatal" {
			s.errors[fmt.Sprint(m["msg"])]++
		}
	}
	return s
}

// report is the soak's outcome.
type report struct {
	set     settings
	samples []sample
	idle    sample
	perf    perfStats
	fleet   fleetSummary
	hups    int
	leases  leaseCheck
	log     logSummary
}

func change(a, b float64) string {
	if a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b-a)/a)
}

func within(a, b float64) bool { return a > 0 && b >= 0.9*a && b <= 1.1*a }

// check applies the soak's criteria.
func (r *report) check(t *testing.T) {
	if len(r.samples) < 2 {
		t.Fatalf("%d samples", len(r.samples))
	}
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	for _, c := range []struct {
		name string
		a, b float64
	}{{"goroutines", first.goroutines, last.goroutines}, {"open fds", float64(first.fds), float64(last.fds)}, {"RSS", float64(first.rss), float64(last.rss)}} {
		if !within(c.a, c.b) {
			t.Errorf("%s: last sample %.0f, first %.0f (%s): not within 10%%", c.name, c.b, c.a, change(c.a, c.b))
		}
	}
	for name, list := range map[string][]string{"wrong config installed": r.fleet.wrong, "device installed nothing": r.fleet.failed,
		"stranger got bytes": r.fleet.leaked, "lease missing from the journal after kill -9": r.leases.missing} {
		for i, s := range list {
			if i == 5 {
				t.Errorf("%s: … %d in all", name, len(list))
				break
			}
			t.Errorf("%s: %s", name, s)
		}
	}
	if r.leases.before != r.leases.after || r.leases.devices == 0 {
		t.Errorf("active leases: %.0f before kill -9, %.0f after the restart (%d devices checked)", r.leases.before, r.leases.after, r.leases.devices)
	}
	if r.log.reloads["refused"]+r.log.reloads["partial"] > 0 || r.log.reloads["applied"] == 0 {
		t.Errorf("reloads: %v for %d SIGHUPs", r.log.reloads, r.hups)
	}
	if r.log.notJSON > 0 {
		t.Errorf("%d log lines are not JSON", r.log.notJSON)
	}
	if len(r.log.errors) > 0 {
		t.Errorf("Error lines: %v", r.log.errors)
	}
}

// write logs the Markdown report and appends it to SOAK_RESULTS.
func (r *report) write(t *testing.T) {
	var b strings.Builder
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	rev, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	fmt.Fprintf(&b, "\n### Soak: %s under a steady mixed load (%s, %s)\n\n", r.set.duration, time.Now().UTC().Format("2006-01-02"), strings.TrimSpace(string(rev)))
	fmt.Fprintf(&b, "`make soak` (test/soak): sealboot in one namespace; in another, perfdhcp at %d 4-way exchanges/s from %d clients (as a relay, no serial: `serve_unknown`), "+
		"%d emulated P-256 devices booting in rounds (DHCP, then TFTP or, for half of them sent there by a boot profile, HTTP; decrypt; compare with every version of their config), a stranger asking for a device's file over both each round, "+
		"a device config rewritten every second, a certificate imported, replaced or removed every 5 s (`sealboot keys`, configs for those serials written and removed), "+
		"SIGHUP every 3 s with the configuration file changed. %s of warm-up, then a sample every 10 s, taken between device rounds; the last must be within 10%% of the first.\n\n",
		r.set.dhcpRate, r.set.dhcpClients, r.set.devices, r.set.warmup)
	b.WriteString("| load | count |\n|---|---|\n")
	fmt.Fprintf(&b, "| perfdhcp | %d DISCOVER, %d OFFER (drops %s), %d REQUEST, %d ACK (drops %s); %s |\n",
		r.perf.discovers, r.perf.offers, r.perf.dropsOffer, r.perf.requests, r.perf.acks, r.perf.dropAck, r.perf.rate)
	fmt.Fprintf(&b, "| device boots | %d in %d rounds; %d installed nothing |\n", r.fleet.boots, r.fleet.rounds, len(r.fleet.failed))
	fmt.Fprintf(&b, "| tftp.fetch events | %s |\n", counts(r.log.fetches))
	fmt.Fprintf(&b, "| http.fetch events | %s |\n", counts(r.log.httpFetches))
	fmt.Fprintf(&b, "| config versions written | %d |\n", r.fleet.configVersions)
	fmt.Fprintf(&b, "| certificate changes | %s |\n", counts(r.fleet.certOps))
	fmt.Fprintf(&b, "| SIGHUP | %d sent; config.reload %s |\n\n", r.hups, counts(r.log.reloads))
	b.WriteString("| check | result |\n|---|---|\n")
	fmt.Fprintf(&b, "| goroutines, first → last sample | %.0f → %.0f (%s); %.0f 10 s after the load stopped |\n", first.goroutines, last.goroutines, change(first.goroutines, last.goroutines), r.idle.goroutines)
	fmt.Fprintf(&b, "| open fds | %d → %d (%s); %d after |\n", first.fds, last.fds, change(float64(first.fds), float64(last.fds)), r.idle.fds)
	fmt.Fprintf(&b, "| RSS | %.1f → %.1f MiB (%s); %.1f MiB after |\n", mib(float64(first.rss)), mib(float64(last.rss)), change(float64(first.rss), float64(last.rss)), mib(float64(r.idle.rss)))
	fmt.Fprintf(&b, "| devices that installed another config than their own | %d of %d boots |\n", len(r.fleet.wrong), r.fleet.boots)
	fmt.Fprintf(&b, "| stranger fetches answered with data | %d (%d refused) |\n", len(r.fleet.leaked), r.fleet.refused)
	fmt.Fprintf(&b, "| devices' last ACK missing from the journal after kill -9 | %d of %d; active leases %.0f before, %.0f after the restart (journal %d KiB, %d lease records) |\n",
		len(r.leases.missing), r.leases.devices, r.leases.before, r.leases.after, r.leases.journalBytes>>10, r.leases.journalRecords)
	fmt.Fprintf(&b, "| log | %d lines (%s), %d not JSON, Error lines %v |\n\n", r.log.lines, counts(r.log.levels), r.log.notJSON, r.log.errors)
	b.WriteString("| t (s) | goroutines | open fds | RSS MiB | Go heap in use MiB | threads |\n|---|---|---|---|---|---|\n")
	for _, s := range r.samples {
		fmt.Fprintf(&b, "| %d | %.0f | %d | %.1f | %.1f | %d |\n", int(s.at.Seconds()), s.goroutines, s.fds, mib(float64(s.rss)), mib(s.heap), s.threads)
	}
	fmt.Fprintf(&b, "| idle, 10 s after | %.0f | %d | %.1f | %.1f | %d |\n", r.idle.goroutines, r.idle.fds, mib(float64(r.idle.rss)), mib(r.idle.heap), r.idle.threads)
	t.Log(b.String())
	if r.set.results == "" {
		return
	}
	file, err := os.OpenFile(r.set.results, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

func mib(b float64) float64 { return b / (1 << 20) }

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
