package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/test/device"
)

func fleetSerials(n int) []string { return device.FleetSerials("HA", n) }

// fleetKill boots 24 emulated devices at once. Those with a config are
// served by whichever appliance they took; the others are refused
// (not_found) and start over every second with DISCOVER, as devices in
// RFC 8886 4.3 do. Then the appliance that most recently refused one of
// them is killed with SIGKILL, the missing configs are deployed, and every
// device finishes on the other. It returns the killed appliance.
func (p *pair) fleetKill(t *testing.T) *appliance {
	fleet := fleetSerials(24)
	results := filepath.Join(p.dir, "fleet.json")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := p.dev.NS.Command(ctx, sealbootBin, "device", "boot", "--count", "24", "--serial-prefix", "HA",
		"--keys-dir", filepath.Join(p.dir, "devkeys"), "--iface", p.dev.Name, "--vendor", "arista", "--require-encrypted",
		"--retry", "1s", "--max-attempts", "120", "--dhcp-timeout", "6s", "--tftp-timeout", "500ms", "--results", results)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type refusal struct {
		a  *appliance
		at time.Time
	}
	var latest map[string]refusal // waiting serial → its latest not_found
	waitFor(t, "half the fleet served and the other half refused for want of a config", func() bool {
		served, waiting := map[string]bool{}, map[string]refusal{}
		for _, a := range p.app {
			for _, e := range a.s.events("tftp.fetch") {
				serial := fmt.Sprint(e["serial"])
				switch {
				case !strings.HasPrefix(serial, "HA0"):
				case e["outcome"] == "served":
					served[serial] = true
				case e["outcome"] == "not_found" && eventTime(e).After(waiting[serial].at):
					waiting[serial] = refusal{a, eventTime(e)}
				}
			}
		}
		latest = waiting
		return len(served) == 12 && len(waiting) == 12
	})
	split := p.checkServedFromOwnLeases("HA0")
	var victim *appliance
	var last time.Time
	for _, r := range latest {
		if r.at.After(last) {
			victim, last = r.a, r.at
		}
	}
	survivor := p.other(victim)
	var onVictim []string
	for serial, r := range latest {
		if r.a == victim {
			onVictim = append(onVictim, serial)
		}
	}
	sort.Strings(onVictim)
	t.Logf("served before the kill: %v; waiting for a config on %s: %v", split, victim.name, onVictim)

	killed := time.Now()
	victim.s.kill()
	for i, s := range fleet {
		if i%2 == 1 {
			p.writeConfig(s)
		}
	}
	p.sync()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("fleet: %v\n%s", err, out.String())
	}
	byServer := map[string]int{}
	for _, res := range readResults(t, results) {
		a := p.owner(res.Server)
		if ip := netip.MustParseAddr(res.Address); !res.Installed() || !a.pool.Contains(ip) {
			t.Errorf("%s: %+v (address not in %s's half)", res.Serial, res, a.name)
		}
		if n, _ := strconv.Atoi(strings.TrimPrefix(res.Serial, "HA")); n%2 == 0 && a != survivor {
			t.Errorf("%s got its config after %s was killed, from %s", res.Serial, victim.name, a.name)
		}
		byServer[a.name]++
	}
	p.checkServedFromOwnLeases("HA0")
	var slowest time.Duration
	for _, serial := range onVictim {
		ev := survivor.s.wait("tftp fetch served", func(m map[string]any) bool { return m["serial"] == serial })
		slowest = max(slowest, eventTime(ev).Sub(killed))
	}
	t.Logf("%s killed; %d devices it had answered finished on %s, the last %.1f s after the kill; final configs by server: %v",
		victim.name, len(onVictim), survivor.name, slowest.Seconds(), byServer)
	return victim
}

func readResults(t *testing.T, path string) []device.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []device.Result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r device.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// dhclientHook sets the address as dhclient-script would, then records
// the call with its time.
const dhclientHook = `#!/bin/sh
at=$(date +%%s.%%N)
case $reason in
BOUND|RENEW|REBIND|REBOOT)
	if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then ip addr del "$old_ip_address/24" dev "$interface"; fi
	ip addr replace "$new_ip_address/24" dev "$interface" ;;
EXPIRE|FAIL|RELEASE|STOP)
	if [ -n "$old_ip_address" ]; then ip addr del "$old_ip_address/24" dev "$interface"; fi ;;
esac
echo "$at $reason ip=$new_ip_address old=$old_ip_address sid=$new_dhcp_server_identifier next=$new_next_server" >> %s
exit 0
`

// dhcEvent is one dhclient-script call.
type dhcEvent struct {
	at     time.Time
	reason string
	kv     map[string]string
}

func readDhcEvents(path string) []dhcEvent {
	data, _ := os.ReadFile(path)
	var out []dhcEvent
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		secs, _ := strconv.ParseFloat(f[0], 64)
		ev := dhcEvent{at: time.Unix(0, int64(secs*1e9)), reason: f[1], kv: map[string]string{}}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			ev.kv[k] = v
		}
		out = append(out, ev)
	}
	return out
}

// dhclientFailover runs ISC dhclient as a device that keeps its lease: it
// binds to one appliance and fetches its config there; that appliance is
// killed; dhclient's renewals (unicast to it) go unanswered until T2, its
// rebinding broadcast is NAKed by the other appliance (the address is not
// in its half), and it starts over with DISCOVER, binds to the other and
// fetches from it. dhclient's retransmission schedule is shortened
// (initial-interval 1) to fit the 20 s lease; at 1 h the steps are the
// same. It returns the killed appliance.
func (p *pair) dhclientFailover(t *testing.T) *appliance {
	events := filepath.Join(p.dir, "dhclient.events")
	hook := filepath.Join(p.dir, "dhclient-hook.sh")
	conf := filepath.Join(p.dir, "dhclient.conf")
	_ = os.WriteFile(hook, []byte(fmt.Sprintf(dhclientHook, events)), 0o755)
	_ = os.WriteFile(conf, []byte(`send vendor-class-identifier "Juniper-mx204-JNPAIR01";
request subnet-mask, tftp-server-name, bootfile-name;
initial-interval 1;
backoff-cutoff 2;
`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.dhc.NS.Command(ctx, "dhclient", "-4", "-d", "-sf", hook, "-cf", conf,
		"-lf", filepath.Join(p.dir, "dhclient.leases"), "-pf", filepath.Join(p.dir, "dhclient.pid"), p.dhc.Name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dhclient:\n%s", out.String())
		}
	}()
	bound := func(not *appliance) (dhcEvent, *appliance) {
		var ev dhcEvent
		waitFor(t, "dhclient bound", func() bool {
			for _, e := range readDhcEvents(events) {
				if e.reason == "BOUND" && (not == nil || e.kv["sid"] != not.addr.String()) {
					ev = e
				}
			}
			return ev.reason != ""
		})
		a := p.owner(ev.kv["sid"])
		if ev.kv["next"] != ev.kv["sid"] || !a.pool.Contains(netip.MustParseAddr(ev.kv["ip"])) {
			t.Fatalf("dhclient bound %v: want next-server = server identifier and an address of %s's half", ev.kv, a.name)
		}
		return ev, a
	}
	fetch := func(a *appliance, ip string) {
		got := filepath.Join(p.dir, "JNPAIR01-from-"+a.name)
		run(t, p.dhc.NS, false, "tftp", "-m", "binary", a.addr.String(), "-c", "get", "JNPAIR01.enc", got)
		data, _ := os.ReadFile(got)
		p.opens(t, "JNPAIR01", data)
		a.s.wait("tftp fetch served", func(m map[string]any) bool { return m["serial"] == "JNPAIR01" && remoteIP(m).String() == ip })
	}

	first, x := bound(nil)
	fetch(x, first.kv["ip"])
	killed := time.Now()
	x.s.kill()
	again, y := bound(x)
	nak := y.s.wait("dhcpv4: NAK", func(m map[string]any) bool { return m["ip"] == first.kv["ip"] })
	var expired bool
	for _, e := range readDhcEvents(events) {
		expired = expired || (e.reason == "EXPIRE" && e.at.After(killed) && e.at.Before(again.at))
	}
	if !expired {
		t.Fatalf("dhclient moved to %s without dropping %s first", y.name, first.kv["ip"])
	}
	fetch(y, again.kv["ip"])
	since := func(at time.Time) float64 { return at.Sub(first.at).Seconds() }
	t.Logf("dhclient: bound to %s (%s) at 0 s, lease 20 s (T1 10 s, T2 17.5 s); %s killed at %.1f s; %s NAKed the rebinding request at %.1f s; bound to %s (%s) at %.1f s and fetched from it",
		x.name, first.kv["ip"], x.name, since(killed), y.name, since(eventTime(nak)), y.name, again.kv["ip"], since(again.at))
	return x
}
