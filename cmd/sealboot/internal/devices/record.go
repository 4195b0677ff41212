package devices

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
)

// device is one serial's record, kept small: 100,000 serials found at
// start with a certificate and a config cost one of these each, and only
// devices that have had events carry an activity.
type device struct {
	serial      string
	fingerprint string // of the usable certificate (the keystore's string)
	keyType     string
	lastEvent   int64 // UnixNano of the last event about it; 0: none
	certAt      int64
	configAt    int64 // when the config took its state: ready since, when ready
	configBytes int64
	act         *activity
	certState   uint8 // index in certStates
	configState uint8 // index in configStates
	phase       uint8 // index in Phases
	usable      bool  // a usable certificate is there
	certEvent   bool  // the certificate was set by an event: a seed no longer applies
	configEvent bool
}

// activity is what a device that has had events carries: its story, its
// place in the lists, and, once it has them, DHCP and fetch records.
type activity struct {
	dhcp       *dhcpInfo
	fetch      *fetchInfo
	extra      *extra
	story      []entry
	prev, next *device // in State.unknown while the device has no file
	heapIdx    int32   // in its stories set's heap (State.stories or strays), plus one; 0: not there
	listed     bool
}

// dhcpInfo is what DHCP last told the device.
type dhcpInfo struct {
	at           int64
	ip, relay    ipPort
	model        string
	circuitID    string
	offers, acks uint16 // saturating
	mac          hwAddr
	last         uint8 // word: offer, ack, nak, decline
	vendor       uint8 // word
}

// fetchInfo is the device's fetch attempts over every transport.
type fetchInfo struct { // fields ordered to fit 80 bytes
	attempts, inARow uint32 // inARow: refused or failed since the last served attempt or file change
	first, last      int64
	servedAt         int64
	servedBytes      int64
	lastReason       string
	remote           ipPort
	lastOutcome      uint8 // words
	lastTransport    uint8
	servedTransport  uint8
}

// extra is what few devices have: why a file gives nothing, SZTP
// progress, image fetches.
type extra struct {
	certReason, configReason  string
	sztpAt                    int64
	sztpLast                  uint8
	imageLast                 uint8 // word: the last image fetch's outcome
	imageFetches, imageServed uint32
	imageFile                 string
	imageAt                   int64
}

func (d *device) activity() *activity {
	if d.act == nil {
		d.act = &activity{}
	}
	return d.act
}

func (d *device) more() *extra {
	a := d.activity()
	if a.extra == nil {
		a.extra = &extra{}
	}
	return a.extra
}

func (d *device) fetched() bool { return d.act != nil && d.act.fetch != nil }
func (d *device) inDHCP() bool  { return d.act != nil && d.act.dhcp != nil }

// States of certificates and configs, as their events name them; index 0
// is none heard of, the last any other word.
var (
	certStates   = []string{"", "added", "replaced", "removed", "refused", "invalid", "duplicate", "other"}
	configStates = []string{"", "ready", "waiting_for_certificate", "invalid", "removed", "other"}
)

func stateCode(states []string, word string) uint8 {
	if i := slices.Index(states, word); i >= 0 {
		return uint8(i)
	}
	return uint8(len(states) - 1)
}

// hasFile says whether a config or certificate file anchors the device
// (bounded by the directories, so never forgotten).
func (d *device) hasFile() bool {
	removed := func(states []string, i uint8) bool { return i == 0 || states[i] == "removed" }
	return !removed(certStates, d.certState) || !removed(configStates, d.configState)
}

// phaseName is the device's phase; w reads the activity's words.
func (d *device) phaseName(w *words, failingAfter int) string {
	conf := configStates[d.configState]
	a := d.act
	switch {
	case d.fetched() && w.word(a.fetch.lastOutcome) == "served":
		return PhaseServed
	case conf == "" || conf == "removed":
		return PhaseWaitingForConfig
	case conf == "invalid" || conf == "other":
		return PhaseConfigInvalid
	case !d.usable:
		return PhaseWaitingForCertificate
	case d.fetched() && int(a.fetch.inARow) >= failingAfter:
		return PhaseFailing
	case d.fetched() || d.inDHCP():
		return PhaseBooting
	}
	return PhaseWaitingForDevice
}

// words interns the few words events use (event names, outcomes,
// transports) as one byte each. Past 255 words, others read as "other".
type words struct {
	list  []string
	index map[string]uint8
}

func (w *words) init() {
	w.list = []string{""}
	w.index = map[string]uint8{"": 0}
}

func (w *words) code(s string) uint8 {
	if c, ok := w.index[s]; ok {
		return c
	}
	if len(w.list) >= 255 {
		return w.code("other")
	}
	s = strings.Clone(s)
	w.index[s] = uint8(len(w.list))
	w.list = append(w.list, s)
	return uint8(len(w.list) - 1)
}

func (w *words) word(c uint8) string {
	if int(c) < len(w.list) {
		return w.list[c]
	}
	return ""
}

// hwAddr is a hardware address of up to 8 bytes, held without a pointer;
// longer ones are not kept.
type hwAddr struct {
	b [8]byte
	n uint8
}

// parseMAC reads "02:00:5e:00:53:01" (or with dashes).
func parseMAC(s string) hwAddr {
	var h hwAddr
	if s == "" || (len(s)+1)%3 != 0 || (len(s)+1)/3 > len(h.b) {
		return h
	}
	for i := 0; i < len(s); i += 3 {
		if i+2 < len(s) && s[i+2] != ':' && s[i+2] != '-' {
			return hwAddr{}
		}
		if _, err := hex.Decode(h.b[h.n:h.n+1], []byte(s[i:i+2])); err != nil {
			return hwAddr{}
		}
		h.n++
	}
	return h
}

func (h hwAddr) String() string {
	if h.n == 0 {
		return ""
	}
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 3*int(h.n))
	for i, b := range h.b[:h.n] {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}

// ipPort is an IP address, and a port when not 0, held without a
// pointer (netip's zone pointer costs 8 bytes in each of 100,000 records;
// zones are not kept).
type ipPort struct {
	a    [16]byte
	port uint16
	v4   bool
	ok   bool
}

// parseAddr reads an address, or an address and port (a fetch's remote).
func parseAddr(s string) ipPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return ipPort{}
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr()
	return ipPort{a: a.As16(), port: ap.Port(), v4: a.Is4(), ok: true}
}

func (p ipPort) addr() netip.Addr {
	a := netip.AddrFrom16(p.a)
	if p.v4 {
		a = a.Unmap()
	}
	return a
}

func (p ipPort) String() string {
	switch {
	case !p.ok:
		return ""
	case p.port == 0:
		return p.addr().String()
	}
	return netip.AddrPortFrom(p.addr(), p.port).String()
}
