// Package devices keeps, in memory, what sealboot knows about each device
// by serial: its certificate, its config, what DHCP last told it, its fetch
// attempts over every transport, a phase derived from all of these, and its
// story (its recent events, in order). It learns all of it from the events
// the components already log (Core taps the logger), plus one look at the
// keys and configs directories at start (Seed), whose first scans are
// summarised rather than logged per file.
//
// Memory is bounded: a device's story holds at most Options.StoryPerDevice
// events and all stories together Options.StoryTotal (the oldest go
// first, those of devices with no file before any other); devices known only from DHCP or fetch requests, with no config
// or certificate file, are forgotten beyond Options.MaxUnknown, least
// recently seen first. Devices with a file are bounded by the directories.
package devices

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Phases of a device, from the first that applies down.
const (
	// PhaseServed: the device's last fetch attempt was served.
	PhaseServed = "served"
	// PhaseWaitingForConfig: there is no config file for the serial.
	PhaseWaitingForConfig = "waiting_for_config"
	// PhaseConfigInvalid: the config file cannot be served (empty, too
	// large, unreadable).
	PhaseConfigInvalid = "config_invalid"
	// PhaseWaitingForCertificate: the config is there, no usable
	// certificate is.
	PhaseWaitingForCertificate = "waiting_for_certificate"
	// PhaseFailing: config and certificate are ready, and the device's
	// last Options.FailingAfter attempts were all refused or failed.
	PhaseFailing = "failing"
	// PhaseBooting: config and certificate are ready and the device has
	// shown up (DHCP or a fetch attempt), not served yet.
	PhaseBooting = "booting"
	// PhaseWaitingForDevice: config and certificate are ready; the
	// device has not shown up yet.
	PhaseWaitingForDevice = "waiting_for_device"
)

// Phases lists every phase, for metrics that show each from the start.
var Phases = []string{
	PhaseServed, PhaseFailing, PhaseBooting, PhaseWaitingForDevice,
	PhaseWaitingForCertificate, PhaseConfigInvalid, PhaseWaitingForConfig,
}

// Options bound the state and set when a device is failing.
type Options struct {
	// FailingAfter is how many refused or failed attempts in a row make a
	// ready device failing. Default 3.
	FailingAfter int
	// MaxUnknown is how many devices with no config or certificate file
	// are remembered. Default 100,000.
	MaxUnknown int
	// StoryPerDevice and StoryTotal bound the stories. Defaults 32 and
	// 100,000.
	StoryPerDevice int
	StoryTotal     int
	// UnknownClients is how many DHCP clients with no serial are listed
	// in the summary. Default 256.
	UnknownClients int
	// Now is the clock for seeded entries; default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.FailingAfter <= 0 {
		o.FailingAfter = 3
	}
	if o.MaxUnknown <= 0 {
		o.MaxUnknown = 100000
	}
	if o.StoryPerDevice <= 0 {
		o.StoryPerDevice = 32
	}
	if o.StoryTotal <= 0 {
		o.StoryTotal = 100000
	}
	if o.UnknownClients <= 0 {
		o.UnknownClients = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// State is every device sealboot knows of. It is safe for concurrent use.
type State struct {
	mu      sync.Mutex
	opts    Options
	devs    map[string]*device
	unknown lru                // devices with no file, least recently seen at the tail
	counts  []int              // by phase index
	gauges  []prometheus.Gauge // by phase index
	vec     *prometheus.GaugeVec
	stories stories // of devices with a file
	strays  stories // of devices with none: anyone can make those up
	words   words
	clients clientList
	fetches unresolved
	forgot  int64
	sums    func(serial string) (string, bool)
	started time.Time
}

// New returns an empty state. Its Collector is sealboot_devices{phase},
// every phase at zero from the start.
func New(opts Options) *State {
	opts.defaults()
	s := &State{
		opts: opts, devs: map[string]*device{}, counts: make([]int, len(Phases)), gauges: make([]prometheus.Gauge, len(Phases)),
		started: opts.Now(),
	}
	s.words.init()
	s.clients.max = opts.UnknownClients
	vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sealboot_devices", Help: "Devices by phase (see sealboot status).",
	}, []string{"phase"})
	for i, p := range Phases {
		s.gauges[i] = vec.WithLabelValues(p)
	}
	s.vec = vec
	return s
}

// Collector is the state's metric, sealboot_devices{phase}.
func (s *State) Collector() prometheus.Collector { return s.vec }

// SetFailingAfter changes Options.FailingAfter (a reload) and re-derives
// every device's phase.
func (s *State) SetFailingAfter(n int) {
	if n <= 0 {
		n = 3
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == s.opts.FailingAfter {
		return
	}
	s.opts.FailingAfter = n
	for _, d := range s.devs {
		s.rephase(d)
	}
}

// get returns serial's device, making it if needed. Callers hold s.mu.
func (s *State) get(serial string) *device {
	if d, ok := s.devs[serial]; ok {
		return d
	}
	d := &device{serial: serial}
	s.devs[serial] = d
	d.phase = s.derive(d)
	s.count(d.phase, 1)
	return d
}

// touched files d under the right list and phase after a change, and
// forgets the least recently seen unknown devices beyond the bound.
// Callers hold s.mu.
func (s *State) touched(d *device) {
	wasStray := d.act != nil && d.act.listed
	if d.hasFile() {
		s.unknown.remove(d)
	} else {
		s.unknown.front(d, d.activity())
	}
	if isStray := !d.hasFile(); isStray != wasStray {
		from, to := &s.stories, &s.strays
		if !isStray {
			from, to = to, from
		}
		from.take(d)
		to.put(d)
	}
	s.rephase(d)
	for s.unknown.n > s.opts.MaxUnknown {
		old := s.unknown.tail
		s.unknown.remove(old)
		s.count(old.phase, -1)
		delete(s.devs, old.serial)
		s.strays.forget(old)
		s.forgot++
	}
	s.trimStories()
}

// storiesOf is the set d's story is in: strays while d is in the unknown
// list (it has no file).
func (s *State) storiesOf(d *device) *stories {
	if d.act != nil && d.act.listed {
		return &s.strays
	}
	return &s.stories
}

// trimStories keeps Options.StoryTotal entries in all, dropping the
// oldest: strays' first, so that made-up serials cannot push out the
// stories of devices with a file.
func (s *State) trimStories() {
	for s.stories.live+s.strays.live > s.opts.StoryTotal {
		if s.strays.live > 0 {
			s.strays.dropOldest()
		} else {
			s.stories.dropOldest()
		}
	}
}

// derive is d's phase, as an index in Phases.
func (s *State) derive(d *device) uint8 {
	return uint8(slices.Index(Phases, d.phaseName(&s.words, s.opts.FailingAfter)))
}

func (s *State) rephase(d *device) {
	p := s.derive(d)
	if p == d.phase {
		return
	}
	s.count(d.phase, -1)
	s.count(p, 1)
	d.phase = p
}

func (s *State) count(phase uint8, delta int) {
	s.counts[phase] += delta
	if g := s.gauges[phase]; g != nil {
		g.Set(float64(s.counts[phase]))
	}
}
