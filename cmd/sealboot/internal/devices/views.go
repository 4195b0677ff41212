package devices

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// List is the answer to a query for devices: GET /api/v1/devices, and
// `sealboot status --json`.
type List struct {
	GeneratedAt time.Time `json:"generated_at"`
	Started     time.Time `json:"started"`
	Summary     Summary   `json:"summary"`
	Matched     int       `json:"matched"`
	Devices     []Device  `json:"devices"`
}

// Summary counts every device, whatever the filter.
type Summary struct {
	Devices           int               `json:"devices"`
	Phases            map[string]int    `json:"phases"`
	SeenWithoutFiles  int               `json:"seen_without_files"`
	Forgotten         int64             `json:"forgotten"`
	UnknownClients    UnknownClients    `json:"unknown_clients"`
	UnresolvedFetches UnresolvedFetches `json:"unresolved_fetches"`
}

// UnknownClients are DHCP clients that sent no serial sealboot recognises.
type UnknownClients struct {
	Events int64           `json:"events"`
	Recent []UnknownClient `json:"recent"`
}

// UnknownClient is one of them, most recently seen first.
type UnknownClient struct {
	Client    string    `json:"client"`
	MAC       string    `json:"mac,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Vendor    string    `json:"vendor,omitempty"`
	Model     string    `json:"model,omitempty"`
	Relay     string    `json:"relay,omitempty"`
	CircuitID string    `json:"circuit_id,omitempty"`
	Family    string    `json:"family,omitempty"`
	Events    int64     `json:"events"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// UnresolvedFetches are fetch attempts whose name carried no serial.
type UnresolvedFetches struct {
	Total int64       `json:"total"`
	Last  *StoryEvent `json:"last,omitempty"`
}

// Device is one device: its phase, what is known of it, and (for one
// device) its story.
type Device struct {
	Serial      string          `json:"serial"`
	Phase       string          `json:"phase"`
	Why         string          `json:"why"`
	LastEvent   time.Time       `json:"last_event,omitzero"`
	Certificate CertificateView `json:"certificate"`
	Config      ConfigView      `json:"config"`
	DHCP        *DHCPView       `json:"dhcp,omitempty"`
	Fetch       *FetchView      `json:"fetch,omitempty"`
	SZTP        *SZTPView       `json:"sztp,omitempty"`
	Images      *ImagesView     `json:"images,omitempty"`
	Story       []StoryEvent    `json:"story,omitempty"`
}

// CertificateView is the device's certificate.
type CertificateView struct {
	State       string    `json:"state"`
	Usable      bool      `json:"usable"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	KeyType     string    `json:"key_type,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// ConfigView is the device's config file.
type ConfigView struct {
	State      string    `json:"state"`
	SHA256     string    `json:"sha256,omitempty"`
	Bytes      int64     `json:"bytes,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	ReadySince time.Time `json:"ready_since,omitzero"`
	Since      time.Time `json:"since,omitzero"`
}

// DHCPView is what DHCP last told the device.
type DHCPView struct {
	Last      string    `json:"last"`
	At        time.Time `json:"at"`
	IP        string    `json:"ip,omitempty"`
	MAC       string    `json:"mac,omitempty"`
	Vendor    string    `json:"vendor,omitempty"`
	Model     string    `json:"model,omitempty"`
	Relay     string    `json:"relay,omitempty"`
	CircuitID string    `json:"circuit_id,omitempty"`
	Offers    int       `json:"offers"`
	Acks      int       `json:"acks"`
}

// FetchView is the device's fetch attempts over every transport.
type FetchView struct {
	Attempts        int       `json:"attempts"`
	RefusedInARow   int       `json:"refused_in_a_row"`
	LastOutcome     string    `json:"last_outcome"`
	LastReason      string    `json:"last_reason,omitempty"`
	LastTransport   string    `json:"last_transport"`
	LastRemote      string    `json:"last_remote,omitempty"`
	FirstAttempt    time.Time `json:"first_attempt"`
	LastAttempt     time.Time `json:"last_attempt"`
	ServedAt        time.Time `json:"served_at,omitzero"`
	ServedBytes     int64     `json:"served_bytes,omitempty"`
	ServedTransport string    `json:"served_transport,omitempty"`
}

// ImagesView is the device's fetches of OS images (HTTP), which do not
// change its phase.
type ImagesView struct {
	Fetches     int       `json:"fetches"`
	Served      int       `json:"served"`
	LastOutcome string    `json:"last_outcome"`
	LastFile    string    `json:"last_file"`
	LastAttempt time.Time `json:"last_attempt"`
}

// SZTPView is the device's last SZTP progress report.
type SZTPView struct {
	Last string    `json:"last"`
	At   time.Time `json:"at"`
}

// StoryEvent is one event of a device's story.
type StoryEvent struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"`
	Result  string    `json:"result,omitempty"`
	Address string    `json:"address,omitempty"`
	MAC     string    `json:"mac,omitempty"`
	File    string    `json:"file,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

// Filter selects devices. The zero Filter selects all.
type Filter struct {
	Phases []string  // any of these; empty: all
	Serial string    // a shell pattern (path.Match): SN1, JN*; empty: all
	Since  time.Time // with an event at or after this; zero: all
	Limit  int       // at most this many, by serial; 0: all
}

// Check says what is wrong with f, if anything.
func (f Filter) Check() error {
	for _, p := range f.Phases {
		if !slices.Contains(Phases, p) {
			return fmt.Errorf("unknown phase %q (want one of %s)", p, strings.Join(Phases, ", "))
		}
	}
	if _, err := path.Match(f.Serial, ""); err != nil {
		return fmt.Errorf("serial pattern %q: %w", f.Serial, err)
	}
	return nil
}

func (f Filter) match(d *device) bool {
	if len(f.Phases) > 0 && !slices.Contains(f.Phases, Phases[d.phase]) {
		return false
	}
	if f.Serial != "" {
		if ok, _ := path.Match(f.Serial, d.serial); !ok {
			return false
		}
	}
	return f.Since.IsZero() || d.lastEvent >= f.Since.UnixNano()
}

// List returns the summary and the devices f selects, sorted by serial.
func (s *State) List(f Filter) List {
	s.mu.Lock()
	out := List{GeneratedAt: s.opts.Now(), Started: s.started, Summary: s.summary()}
	var picked []string
	for serial, d := range s.devs {
		if f.match(d) {
			picked = append(picked, serial)
		}
	}
	s.mu.Unlock()
	slices.Sort(picked) // outside the lock: events keep flowing
	out.Matched = len(picked)
	if f.Limit > 0 && len(picked) > f.Limit {
		picked = picked[:f.Limit]
	}
	out.Devices = make([]Device, 0, len(picked))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, serial := range picked {
		if d, ok := s.devs[serial]; ok {
			out.Devices = append(out.Devices, s.view(d, false))
		}
	}
	return out
}

// Device returns one device with its story.
func (s *State) Device(serial string) (Device, bool) {
	s.mu.Lock()
	d, ok := s.devs[serial]
	var v Device
	if ok {
		v = s.view(d, true)
	}
	sums := s.sums
	s.mu.Unlock()
	if ok && sums != nil && v.Config.State != "none" && v.Config.State != "removed" {
		v.Config.SHA256, _ = sums(serial)
	}
	return v, ok
}

// SetConfigSums gives the state a way to tell a config's SHA-256 (the
// configs directory's, read at most once per version), for Device.
func (s *State) SetConfigSums(sums func(serial string) (string, bool)) {
	s.mu.Lock()
	s.sums = sums
	s.mu.Unlock()
}

func (s *State) summary() Summary {
	sum := Summary{Devices: len(s.devs), Phases: map[string]int{}, SeenWithoutFiles: s.unknown.n, Forgotten: s.forgot}
	for i, p := range Phases {
		sum.Phases[p] = s.counts[i]
	}
	sum.UnknownClients = s.clients.view()
	if s.fetches.total > 0 {
		e := s.storyView(s.fetches.last)
		sum.UnresolvedFetches = UnresolvedFetches{Total: s.fetches.total, Last: &e}
	}
	return sum
}

func (l *clientList) view() UnknownClients {
	out := UnknownClients{Events: l.total, Recent: []UnknownClient{}}
	for _, c := range l.byKey {
		out.Recent = append(out.Recent, UnknownClient{
			Client: c.key, MAC: c.mac, IP: c.ip, Vendor: c.vendor, Model: c.model, Relay: c.relay, CircuitID: c.circuitID,
			Family: c.family, Events: c.count, FirstSeen: ts(c.first), LastSeen: ts(c.last),
		})
	}
	slices.SortFunc(out.Recent, func(a, b UnknownClient) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

func ts(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (s *State) storyView(e entry) StoryEvent {
	return StoryEvent{At: ts(e.at), Event: s.words.word(e.event), Result: s.words.word(e.result), Address: e.addr.String(),
		MAC: e.mac.String(), File: e.file, Bytes: e.bytes, Reason: e.reason}
}

// view is d as the API shows it. Callers hold s.mu.
func (s *State) view(d *device, story bool) Device {
	v := Device{Serial: d.serial, Phase: Phases[d.phase], LastEvent: ts(d.lastEvent)}
	a, x := d.act, &extra{}
	if a == nil {
		a = &activity{}
	}
	if a.extra != nil {
		x = a.extra
	}
	v.Certificate = CertificateView{State: firstOf(certStates[d.certState], "none"), Usable: d.usable, Fingerprint: d.fingerprint,
		KeyType: d.keyType, Reason: x.certReason, Since: ts(d.certAt)}
	v.Config = ConfigView{State: firstOf(configStates[d.configState], "none"), Bytes: d.configBytes, Reason: x.configReason, Since: ts(d.configAt)}
	if v.Config.State == "ready" {
		v.Config.ReadySince = v.Config.Since
	}
	w := &s.words
	if h := a.dhcp; h != nil {
		v.DHCP = &DHCPView{Last: w.word(h.last), At: ts(h.at), IP: h.ip.String(), MAC: h.mac.String(), Vendor: w.word(h.vendor),
			Model: h.model, Relay: h.relay.String(), CircuitID: h.circuitID, Offers: int(h.offers), Acks: int(h.acks)}
	}
	if f := a.fetch; f != nil {
		v.Fetch = &FetchView{Attempts: int(f.attempts), RefusedInARow: int(f.inARow), LastOutcome: w.word(f.lastOutcome),
			LastReason: f.lastReason, LastTransport: w.word(f.lastTransport), LastRemote: f.remote.String(),
			FirstAttempt: ts(f.first), LastAttempt: ts(f.last), ServedAt: ts(f.servedAt), ServedBytes: f.servedBytes,
			ServedTransport: w.word(f.servedTransport)}
	}
	if x.sztpLast != 0 {
		v.SZTP = &SZTPView{Last: w.word(x.sztpLast), At: ts(x.sztpAt)}
	}
	if x.imageFetches > 0 {
		v.Images = &ImagesView{Fetches: int(x.imageFetches), Served: int(x.imageServed), LastOutcome: w.word(x.imageLast),
			LastFile: x.imageFile, LastAttempt: ts(x.imageAt)}
	}
	v.Why = why(v, s.opts.FailingAfter)
	if story {
		v.Story = make([]StoryEvent, 0, len(a.story))
		for _, e := range a.story {
			v.Story = append(v.Story, s.storyView(e))
		}
	}
	return v
}

// why says in one line why the device is in its phase.
func why(v Device, failingAfter int) string {
	f := v.Fetch
	switch v.Phase {
	case PhaseServed:
		return fmt.Sprintf("served %d bytes over %s", f.ServedBytes, f.ServedTransport)
	case PhaseWaitingForConfig:
		return whyNoConfig(v)
	case PhaseConfigInvalid:
		return "config file invalid: " + v.Config.Reason
	case PhaseWaitingForCertificate:
		if c := v.Certificate; c.State != "none" && c.State != "removed" && c.Reason != "" {
			return "config present; certificate " + c.State + ": " + c.Reason
		}
		return "config present, no certificate"
	case PhaseFailing:
		return fmt.Sprintf("refused %d times in a row (failing after %d), last %s: %s", f.RefusedInARow, failingAfter, f.LastOutcome, f.LastReason)
	case PhaseBooting:
		if f != nil && f.RefusedInARow > 0 {
			return fmt.Sprintf("refused %d time(s) in a row, last %s: %s", f.RefusedInARow, f.LastOutcome, f.LastReason)
		}
		if f != nil {
			return "config and certificate ready; not served yet (last attempt " + f.LastOutcome + ", before a file changed)"
		}
		return fmt.Sprintf("config and certificate ready; DHCP %s %s, no fetch yet", v.DHCP.Last, v.DHCP.IP)
	}
	return "config and certificate ready; the device has not shown up yet"
}

func whyNoConfig(v Device) string {
	switch {
	case v.Config.State == "removed":
		return "config file removed"
	case v.Fetch != nil:
		return fmt.Sprintf("no config file; the device asked %d time(s), last %s", v.Fetch.Attempts, v.Fetch.LastOutcome)
	case v.DHCP != nil:
		return "no config file; the device is in DHCP (" + v.DHCP.Last + " " + v.DHCP.IP + ")"
	}
	return "no config file"
}
