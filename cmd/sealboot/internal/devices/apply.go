package devices

import (
	"strings"
	"time"
)

// Event is one log event as the state reads it: the entry's time and the
// fields it uses (empty when the event has none).
type Event struct {
	Time        time.Time
	Name        string // the event field: tftp.fetch, dhcp.ack, config.state, ...
	Serial      string
	Outcome     string
	State       string
	Reason      string
	IP          string
	Remote      string
	MAC         string
	File        string
	Bootfile    string
	Vendor      string
	Model       string
	Relay       string
	CircuitID   string
	Fingerprint string
	KeyType     string
	Client      string // DHCP client id, for clients with no serial
	Family      string
	Bytes       int64
	Image       bool // an HTTP fetch of an OS image, not of the config
}

// Events the state reads; others are ignored.
const (
	EventCertificate   = "certificate.state"
	EventConfig        = "config.state"
	EventOffer         = "dhcp.offer"
	EventAck           = "dhcp.ack"
	EventNak           = "dhcp.nak"
	EventDecline       = "dhcp.decline"
	EventUnknownClient = "dhcp.unknown_client"
	EventSZTPProgress  = "sztp.progress"
	EventSZTPRequest   = "sztp.request"
	// EventKeystoreFetch is a certificate fetched from the vendor
	// directory: in the device's story, not a fetch of its config.
	EventKeystoreFetch = "keystore.fetch"
)

// isFetch says whether name is a fetch attempt's event: <transport>.fetch,
// and SZTP's requests.
func isFetch(name string) (transport string, ok bool) {
	switch name {
	case EventSZTPRequest:
		return "sztp", true
	case EventKeystoreFetch:
		return "", false
	}
	t, ok := strings.CutSuffix(name, ".fetch")
	return t, ok && t != ""
}

// Apply takes one event into the state.
func (s *State) Apply(ev Event) {
	at := ev.Time.UnixNano()
	if ev.Time.IsZero() {
		at = s.opts.Now().UnixNano()
	}
	transport, fetch := isFetch(ev.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case ev.Name == EventUnknownClient || (ev.Serial == "" && (ev.Name == EventOffer || ev.Name == EventAck)):
		s.clients.seen(ev, at)
		return
	case fetch && ev.Image && ev.Serial == "":
		return // images are no device's config: nothing to say of it
	case fetch && ev.Serial == "":
		s.fetchWithoutSerial(ev, at)
		return
	case ev.Serial == "" || !known(ev.Name, fetch):
		return
	}
	d := s.get(ev.Serial)
	d.lastEvent = at
	switch {
	case fetch && ev.Image:
		s.applyImage(d, ev, at)
	case fetch:
		s.applyFetch(d, ev, transport, at)
	case ev.Name == EventCertificate:
		s.applyCert(d, ev, at)
	case ev.Name == EventConfig:
		s.applyConfig(d, ev, at)
	case ev.Name == EventKeystoreFetch: // the story only
	case ev.Name == EventSZTPProgress:
		x := d.more()
		x.sztpLast, x.sztpAt = s.words.code(firstOf(ev.State, ev.Outcome)), at
	default:
		s.applyDHCP(d, ev, at)
	}
	s.storiesOf(d).add(d, s.storyEntry(ev, at), s.opts.StoryPerDevice)
	s.touched(d)
}

func known(name string, fetch bool) bool {
	switch name {
	case EventCertificate, EventConfig, EventOffer, EventAck, EventNak, EventDecline, EventSZTPProgress, EventKeystoreFetch:
		return true
	}
	return fetch
}

func (s *State) storyEntry(ev Event, at int64) entry {
	e := entry{at: at, event: s.words.code(ev.Name), result: s.words.code(firstOf(ev.Outcome, ev.State)),
		reason: ev.Reason, mac: parseMAC(ev.MAC), bytes: ev.Bytes}
	switch {
	case strings.HasPrefix(ev.Name, "dhcp."):
		e.addr, e.file = parseAddr(ev.IP), ev.Bootfile
	case ev.Name == EventCertificate || ev.Name == EventConfig:
		e.file = ev.File
	default:
		e.addr, e.file = parseAddr(ev.Remote), ev.File
	}
	return e
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (s *State) applyFetch(d *device, ev Event, transport string, at int64) {
	a := d.activity()
	f := a.fetch
	if f == nil {
		f = &fetchInfo{first: at}
		a.fetch = f
	}
	f.attempts++
	f.last = at
	f.lastOutcome, f.lastReason, f.lastTransport = s.words.code(ev.Outcome), ev.Reason, s.words.code(transport)
	f.remote = parseAddr(ev.Remote)
	if ev.Outcome == "served" {
		f.inARow = 0
		f.servedAt, f.servedBytes, f.servedTransport = at, ev.Bytes, f.lastTransport
		return
	}
	f.inARow++
}

// applyImage records an image fetch: in the story and counted, but it
// says nothing of the device's config, so its phase stays.
func (s *State) applyImage(d *device, ev Event, at int64) {
	x := d.more()
	x.imageFetches++
	x.imageLast, x.imageFile, x.imageAt = s.words.code(ev.Outcome), ev.File, at
	if ev.Outcome == "served" {
		x.imageServed++
	}
}

func (s *State) applyCert(d *device, ev Event, at int64) {
	d.certEvent = true
	d.certState, d.certAt = stateCode(certStates, ev.State), at
	if ev.Reason != "" || (d.act != nil && d.act.extra != nil) {
		d.more().certReason = ev.Reason
	}
	switch ev.State {
	case "added", "replaced":
		d.usable, d.fingerprint, d.keyType = true, ev.Fingerprint, ev.KeyType
	case "removed":
		d.usable, d.fingerprint, d.keyType = false, "", ""
	default: // refused, invalid, duplicate: a file that gives no certificate; one in use stays
		if !d.usable {
			d.fingerprint, d.keyType = ev.Fingerprint, ev.KeyType
		}
	}
	resetStreak(d)
}

func (s *State) applyConfig(d *device, ev Event, at int64) {
	d.configEvent = true
	// A new version, or its certificate came: ready since now.
	d.configState, d.configBytes, d.configAt = stateCode(configStates, ev.State), ev.Bytes, at
	if ev.Reason != "" || (d.act != nil && d.act.extra != nil) {
		d.more().configReason = ev.Reason
	}
	resetStreak(d)
}

// resetStreak: a file changed, so earlier refusals no longer say the
// device is failing.
func resetStreak(d *device) {
	if d.fetched() {
		d.act.fetch.inARow = 0
	}
}

func (s *State) applyDHCP(d *device, ev Event, at int64) {
	a := d.activity()
	h := a.dhcp
	if h == nil {
		h = &dhcpInfo{}
		a.dhcp = h
	}
	h.last, h.at = s.words.code(strings.TrimPrefix(ev.Name, "dhcp.")), at
	if ip := parseAddr(ev.IP); ip.ok {
		h.ip = ip
	}
	if m := parseMAC(ev.MAC); m.n > 0 {
		h.mac = m
	}
	switch ev.Name {
	case EventOffer:
		h.offers = min(h.offers+1, 65535)
	case EventAck:
		h.acks = min(h.acks+1, 65535)
	default:
		return
	}
	h.relay = parseAddr(ev.Relay)
	h.vendor, h.model, h.circuitID = s.words.code(ev.Vendor), ev.Model, ev.CircuitID
}

// SeedCertificate records a usable certificate found by the keys
// directory's first scan, unless an event has said more since.
func (s *State) SeedCertificate(serial, fingerprint, keyType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.get(serial)
	if d.certEvent {
		return
	}
	d.certState, d.usable, d.fingerprint, d.keyType, d.certAt = stateCode(certStates, "added"), true, fingerprint, keyType, s.opts.Now().UnixNano()
	s.touched(d)
}

// SeedConfig records a config file found by the configs directory's first
// scan (state ready, waiting_for_certificate or invalid), unless an event
// has said more since.
func (s *State) SeedConfig(serial, state, reason string, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.get(serial)
	if d.configEvent {
		return
	}
	d.configState, d.configBytes, d.configAt = stateCode(configStates, state), bytes, s.opts.Now().UnixNano()
	if reason != "" {
		d.more().configReason = reason
	}
	s.touched(d)
}
