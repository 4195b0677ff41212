package devices

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// at is t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func cert(n int, serial, state string) Event {
	return Event{Time: at(n), Name: EventCertificate, Serial: serial, State: state, Fingerprint: "ab12", KeyType: "P-256"}
}

func conf(n int, serial, state string) Event {
	return Event{Time: at(n), Name: EventConfig, Serial: serial, State: state, Bytes: 42}
}

func dhcp(n int, name, serial string) Event {
	return Event{Time: at(n), Name: name, Serial: serial, IP: "192.0.2.100", MAC: "02:00:00:00:00:01",
		Vendor: "juniper", Model: "mx204", Relay: "198.51.100.1", CircuitID: "ge-0/0/1", Bootfile: serial + ".enc"}
}

func fetch(n int, serial, outcome string) Event {
	return Event{Time: at(n), Name: "tftp.fetch", Serial: serial, Outcome: outcome, File: serial + ".enc",
		Remote: "192.0.2.100:3456", Bytes: 1234, Reason: map[bool]string{true: "", false: "why not"}[outcome == "served"]}
}

func newState(t *testing.T) *State {
	t.Helper()
	return New(Options{Now: func() time.Time { return t0 }})
}

func TestPhases(t *testing.T) {
	t.Parallel()
	ready := []Event{cert(1, "SN", "added"), conf(2, "SN", "ready")}
	refused := func(n int) []Event {
		var out []Event
		for i := range n {
			out = append(out, fetch(10+i, "SN", "binding_mismatch"))
		}
		return out
	}
	join := func(parts ...[]Event) []Event {
		var out []Event
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		events []Event
		phase  string
		why    string
	}{
		{"nothing but a DHCP request", []Event{dhcp(1, EventAck, "SN")}, PhaseWaitingForConfig, "in DHCP (ack 192.0.2.100)"},
		{"certificate only, asked", []Event{cert(1, "SN", "added"), fetch(2, "SN", "not_found")}, PhaseWaitingForConfig, "asked 1 time(s), last not_found"},
		{"config removed", []Event{cert(1, "SN", "added"), conf(2, "SN", "ready"), conf(3, "SN", "removed")}, PhaseWaitingForConfig, "config file removed"},
		{"config invalid", []Event{{Time: at(1), Name: EventConfig, Serial: "SN", State: "invalid", Reason: "empty"}}, PhaseConfigInvalid, "config file invalid: empty"},
		{"config without certificate", []Event{conf(1, "SN", "waiting_for_certificate"), fetch(2, "SN", "no_certificate"),
			fetch(3, "SN", "no_certificate"), fetch(4, "SN", "no_certificate")}, PhaseWaitingForCertificate, "no certificate"},
		{"certificate refused", []Event{conf(1, "SN", "waiting_for_certificate"), {Time: at(2), Name: EventCertificate, Serial: "SN", State: "refused", Reason: "pinned key differs"}},
			PhaseWaitingForCertificate, "certificate refused: pinned key differs"},
		{"certificate removed", []Event{cert(1, "SN", "added"), conf(2, "SN", "ready"), cert(3, "SN", "removed")}, PhaseWaitingForCertificate, "no certificate"},
		{"ready, not seen", ready, PhaseWaitingForDevice, "has not shown up"},
		{"ready, in DHCP", join(ready, []Event{dhcp(3, EventOffer, "SN")}), PhaseBooting, "DHCP offer 192.0.2.100, no fetch yet"},
		{"ready, refused twice", join(ready, refused(2)), PhaseBooting, "refused 2 time(s) in a row, last binding_mismatch"},
		{"ready, refused three times", join(ready, refused(3)), PhaseFailing, "refused 3 times in a row (failing after 3), last binding_mismatch: why not"},
		{"failing, then the config changes", join(ready, refused(3), []Event{conf(20, "SN", "ready")}), PhaseBooting, "not served yet (last attempt binding_mismatch"},
		{"failing, then served", join(ready, refused(5), []Event{fetch(20, "SN", "served")}), PhaseServed, "served 1234 bytes over tftp"},
		{"served, then the config removed", join(ready, []Event{fetch(3, "SN", "served"), conf(4, "SN", "removed")}), PhaseServed, "served"},
		{"served in plaintext without a certificate", []Event{conf(1, "SN", "waiting_for_certificate"), fetch(2, "SN", "served")}, PhaseServed, "served"},
		{"served over http", join(ready, []Event{{Time: at(5), Name: "http.fetch", Serial: "SN", Outcome: "served", Bytes: 99}}), PhaseServed, "served 99 bytes over http"},
		{"an image served does not make it served", join(ready, refused(1), []Event{{Time: at(20), Name: "http.fetch", Serial: "SN", Outcome: "served", Image: true, File: "/images/os.tgz"}}),
			PhaseBooting, "refused 1 time(s)"},
		{"sztp request served", join(ready, []Event{{Time: at(5), Name: EventSZTPRequest, Serial: "SN", Outcome: "served", Bytes: 7}}), PhaseServed, "over sztp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newState(t)
			for _, ev := range tt.events {
				s.Apply(ev)
			}
			d, ok := s.Device("SN")
			if !ok {
				t.Fatal("device unknown")
			}
			if d.Phase != tt.phase || !strings.Contains(d.Why, tt.why) {
				t.Fatalf("phase %s (%s), want %s (…%s…)", d.Phase, d.Why, tt.phase, tt.why)
			}
			if l := s.List(Filter{}); l.Summary.Phases[tt.phase] != 1 || l.Summary.Devices != 1 {
				t.Fatalf("summary %+v", l.Summary)
			}
		})
	}
}

func TestDeviceRecord(t *testing.T) {
	t.Parallel()
	s := newState(t)
	s.SetConfigSums(func(serial string) (string, bool) { return "sum-of-" + serial, true })
	for _, ev := range []Event{cert(1, "SN", "added"), conf(2, "SN", "ready"), dhcp(3, EventOffer, "SN"), dhcp(4, EventAck, "SN"),
		fetch(5, "SN", "timeout"), fetch(6, "SN", "served")} {
		s.Apply(ev)
	}
	d, _ := s.Device("SN")
	if d.Certificate.State != "added" || !d.Certificate.Usable || d.Certificate.Fingerprint != "ab12" || d.Certificate.KeyType != "P-256" {
		t.Errorf("certificate %+v", d.Certificate)
	}
	if d.Config.State != "ready" || d.Config.SHA256 != "sum-of-SN" || !d.Config.ReadySince.Equal(at(2)) || d.Config.Bytes != 42 {
		t.Errorf("config %+v", d.Config)
	}
	h := d.DHCP
	if h == nil || h.Last != "ack" || h.IP != "192.0.2.100" || h.MAC != "02:00:00:00:00:01" || h.Vendor != "juniper" || h.Model != "mx204" ||
		h.Relay != "198.51.100.1" || h.CircuitID != "ge-0/0/1" || h.Offers != 1 || h.Acks != 1 || !h.At.Equal(at(4)) {
		t.Errorf("dhcp %+v", h)
	}
	f := d.Fetch
	if f == nil || f.Attempts != 2 || f.RefusedInARow != 0 || f.LastOutcome != "served" || f.LastTransport != "tftp" ||
		!f.FirstAttempt.Equal(at(5)) || !f.LastAttempt.Equal(at(6)) || !f.ServedAt.Equal(at(6)) || f.ServedBytes != 1234 {
		t.Errorf("fetch %+v", f)
	}
	var got []string
	for _, e := range d.Story {
		got = append(got, e.Event+":"+e.Result)
	}
	want := "certificate.state:added config.state:ready dhcp.offer: dhcp.ack: tftp.fetch:timeout tftp.fetch:served"
	if strings.Join(got, " ") != want {
		t.Errorf("story %v, want %s", got, want)
	}
	if !d.LastEvent.Equal(at(6)) {
		t.Errorf("last event %v", d.LastEvent)
	}
	if _, ok := s.Device("OTHER"); ok {
		t.Error("an unknown serial is known")
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	s := newState(t)
	s.Apply(cert(1, "GONE", "removed")) // after the scan, before the seed: the event wins
	s.SeedCertificate("GONE", "ff", "RSA-2048")
	s.SeedCertificate("SN", "ab", "P-256")
	s.SeedConfig("SN", "ready", "", 10)
	s.SeedConfig("BAD", "invalid", "empty", 0)
	for serial, want := range map[string]string{"SN": PhaseWaitingForDevice, "GONE": PhaseWaitingForConfig, "BAD": PhaseConfigInvalid} {
		if d, _ := s.Device(serial); d.Phase != want {
			t.Errorf("%s: %s, want %s", serial, d.Phase, want)
		}
	}
	if d, _ := s.Device("SN"); !d.Config.ReadySince.Equal(t0) || !d.LastEvent.IsZero() {
		t.Errorf("seeded: ready since %v, last event %v", d.Config.ReadySince, d.LastEvent)
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	s := newState(t)
	s.SeedCertificate("JN1", "a", "P-256")
	s.SeedConfig("JN1", "ready", "", 1)
	s.Apply(dhcp(100, EventAck, "JN2"))
	s.Apply(dhcp(200, EventAck, "AR1"))
	for _, tt := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all, by serial", Filter{}, "AR1 JN1 JN2"},
		{"phase", Filter{Phases: []string{PhaseWaitingForDevice}}, "JN1"},
		{"phases", Filter{Phases: []string{PhaseWaitingForDevice, PhaseWaitingForConfig}}, "AR1 JN1 JN2"},
		{"serial pattern", Filter{Serial: "JN*"}, "JN1 JN2"},
		{"serial", Filter{Serial: "JN2"}, "JN2"},
		{"since", Filter{Since: at(150)}, "AR1"},
		{"limit", Filter{Limit: 2}, "AR1 JN1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := s.List(tt.f)
			var got []string
			for _, d := range l.Devices {
				got = append(got, d.Serial)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
			if tt.f.Limit == 0 && l.Matched != len(got) {
				t.Fatalf("matched %d", l.Matched)
			}
		})
	}
	if err := (Filter{Phases: []string{"lost"}}).Check(); err == nil || !strings.Contains(err.Error(), "failing") {
		t.Errorf("unknown phase: %v", err)
	}
	if err := (Filter{Serial: "["}).Check(); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestUnknownDevicesAreBounded(t *testing.T) {
	t.Parallel()
	s := New(Options{MaxUnknown: 3, Now: func() time.Time { return t0 }})
	s.SeedConfig("FILED", "ready", "", 1) // has a file: never forgotten
	for i := range 5 {
		s.Apply(dhcp(i, EventAck, fmt.Sprintf("U%d", i)))
	}
	s.Apply(dhcp(10, EventAck, "U2")) // seen again: most recent
	s.Apply(dhcp(11, EventAck, "U5"))
	l := s.List(Filter{})
	var got []string
	for _, d := range l.Devices {
		got = append(got, d.Serial)
	}
	if strings.Join(got, " ") != "FILED U2 U4 U5" || l.Summary.Forgotten != 3 || l.Summary.SeenWithoutFiles != 3 {
		t.Fatalf("kept %v, summary %+v", got, l.Summary)
	}
	// A device that gets a file leaves the bound; losing it puts it back.
	s.Apply(conf(12, "U4", "ready"))
	if l := s.List(Filter{}); l.Summary.SeenWithoutFiles != 2 {
		t.Fatalf("summary %+v", l.Summary)
	}
	if l := s.List(Filter{}); l.Summary.Phases[PhaseWaitingForConfig] != 2 || l.Summary.Devices != 4 {
		t.Fatalf("phase counts after forgetting: %+v", l.Summary)
	}
}

func TestStoriesAreBounded(t *testing.T) {
	t.Parallel()
	s := New(Options{StoryPerDevice: 4, StoryTotal: 10, Now: func() time.Time { return t0 }})
	for i := range 6 {
		s.Apply(fetch(i, "A", "timeout"))
	}
	a, _ := s.Device("A")
	if len(a.Story) != 4 || !a.Story[0].At.Equal(at(2)) || !a.Story[3].At.Equal(at(5)) {
		t.Fatalf("A's story: %+v", a.Story)
	}
	for i := range 8 {
		s.Apply(fetch(10+i, "B", "timeout"))
		s.Apply(fetch(10+i, "C", "timeout"))
	}
	total := 0
	for _, serial := range []string{"A", "B", "C"} {
		d, _ := s.Device(serial)
		total += len(d.Story)
		for i := 1; i < len(d.Story); i++ {
			if d.Story[i].At.Before(d.Story[i-1].At) {
				t.Fatalf("%s's story out of order", serial)
			}
		}
	}
	a, _ = s.Device("A")
	if total != 10 || len(a.Story) != 2 || !a.Story[0].At.Equal(at(4)) {
		t.Fatalf("%d entries kept in all (A keeps %v), want 10, A's two oldest gone", total, a.Story)
	}
	if a.Fetch.Attempts != 6 {
		t.Fatalf("A's record went with its story: %+v", a.Fetch)
	}
}

func TestUnknownClientsAndUnresolvedFetches(t *testing.T) {
	t.Parallel()
	s := New(Options{UnknownClients: 2, Now: func() time.Time { return t0 }})
	for i, mac := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:01", "02:00:00:00:00:03"} {
		s.Apply(Event{Time: at(i), Name: EventUnknownClient, MAC: mac, Client: mac, Vendor: "", Relay: "198.51.100.1", Family: "v4"})
	}
	s.Apply(Event{Time: at(9), Name: EventOffer, MAC: "02:00:00:00:00:09", IP: "192.0.2.150"}) // serve_unknown: offered, no serial
	s.Apply(Event{Time: at(10), Name: "tftp.fetch", Outcome: "not_found", File: "nothing.bin", Remote: "192.0.2.7:1000", Reason: "name matches no pattern"})
	l := s.List(Filter{})
	u := l.Summary.UnknownClients
	if u.Events != 5 || len(u.Recent) != 2 || u.Recent[0].MAC != "02:00:00:00:00:09" || u.Recent[0].IP != "192.0.2.150" || u.Recent[1].MAC != "02:00:00:00:00:03" {
		t.Fatalf("unknown clients %+v", u)
	}
	if f := l.Summary.UnresolvedFetches; f.Total != 1 || f.Last == nil || f.Last.File != "nothing.bin" {
		t.Fatalf("unresolved fetches %+v", f)
	}
	if l.Summary.Devices != 0 {
		t.Fatalf("devices %+v", l.Devices)
	}
}

func TestPhaseGauges(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := New(Options{FailingAfter: 2})
	reg.MustRegister(s.Collector())
	if n, err := testutil.GatherAndCount(reg, "sealboot_devices"); err != nil || n != len(Phases) {
		t.Fatalf("%d series at start (%v), want every phase", n, err)
	}
	for _, ev := range []Event{cert(1, "SN", "added"), conf(2, "SN", "ready"), fetch(3, "SN", "aborted"), fetch(4, "SN", "aborted")} {
		s.Apply(ev)
	}
	want := `# HELP sealboot_devices Devices by phase (see sealboot status).
# TYPE sealboot_devices gauge
sealboot_devices{phase="booting"} 0
sealboot_devices{phase="config_invalid"} 0
sealboot_devices{phase="failing"} 1
sealboot_devices{phase="served"} 0
sealboot_devices{phase="waiting_for_certificate"} 0
sealboot_devices{phase="waiting_for_config"} 0
sealboot_devices{phase="waiting_for_device"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sealboot_devices"); err != nil {
		t.Fatal(err)
	}
	s.SetFailingAfter(3) // a reload: no longer failing
	if d, _ := s.Device("SN"); d.Phase != PhaseBooting {
		t.Fatalf("after failing_after 3: %s", d.Phase)
	}
}

// TestMadeUpSerialsKeepOthersStories: requests for made-up serials (anyone
// on the segment can send them, thousands a second) fill the stories'
// bound with devices that have no file; those go first, and a device with
// a config or certificate keeps its story. (A TFTP flood of 130,000 such
// requests emptied every real device's story.) A device that gets a file
// later keeps its story too.
func TestMadeUpSerialsKeepOthersStories(t *testing.T) {
	t.Parallel()
	s := New(Options{StoryPerDevice: 4, StoryTotal: 10, Now: func() time.Time { return t0 }})
	s.Apply(conf(0, "REAL", "waiting_for_certificate"))
	s.Apply(dhcp(1, EventAck, "REAL"))
	s.Apply(fetch(2, "REAL", "no_certificate"))
	s.Apply(fetch(3, "LATER", "not_found")) // no file yet
	s.Apply(conf(4, "LATER", "ready"))
	for i := range 50 {
		s.Apply(fetch(10+i, fmt.Sprintf("FAKE%d", i), "not_found"))
	}
	if d, _ := s.Device("REAL"); len(d.Story) != 3 {
		t.Errorf("REAL keeps %d of its 3 events after a flood of made-up serials: %+v", len(d.Story), d.Story)
	}
	if d, _ := s.Device("LATER"); len(d.Story) != 2 {
		t.Errorf("LATER keeps %d of its 2 events: %+v", len(d.Story), d.Story)
	}
	total := 0
	for _, d := range s.List(Filter{}).Devices {
		total += len(d.Story)
	}
	if total > 10 {
		t.Errorf("%d story entries kept in all, bound 10", total)
	}
	// Once it loses its file, a device's story is a stray's again.
	s.Apply(Event{Time: at(70), Name: EventConfig, Serial: "LATER", State: "removed"})
	for i := range 20 {
		s.Apply(fetch(80+i, fmt.Sprintf("FAKE%d", 100+i), "not_found"))
	}
	if d, _ := s.Device("REAL"); len(d.Story) != 3 {
		t.Errorf("REAL keeps %d of its 3 events: %+v", len(d.Story), d.Story)
	}
}
