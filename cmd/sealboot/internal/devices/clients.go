package devices

// clientList summarises DHCP clients with no serial: how many events, and
// the most recently seen clients (at most max).
type clientList struct {
	max   int
	total int64
	byKey map[string]*client
}

type client struct {
	key, mac, vendor, model, relay, circuitID, family, ip string
	first, last                                           int64
	count                                                 int64
}

func (l *clientList) seen(ev Event, at int64) {
	l.total++
	key := firstOf(ev.Client, ev.MAC)
	if key == "" {
		return
	}
	if l.byKey == nil {
		l.byKey = map[string]*client{}
	}
	c, ok := l.byKey[key]
	if !ok {
		if len(l.byKey) >= l.max {
			l.evict()
		}
		c = &client{key: key, first: at}
		l.byKey[key] = c
	}
	c.count++
	c.last = at
	c.mac, c.vendor, c.model, c.relay, c.circuitID, c.family = ev.MAC, ev.Vendor, ev.Model, ev.Relay, ev.CircuitID, ev.Family
	if ev.IP != "" {
		c.ip = ev.IP
	}
}

// evict forgets the client seen least recently.
func (l *clientList) evict() {
	var oldest *client
	for _, c := range l.byKey {
		if oldest == nil || c.last < oldest.last {
			oldest = c
		}
	}
	if oldest != nil {
		delete(l.byKey, oldest.key)
	}
}

// unresolved summarises fetch attempts whose name gave no serial.
type unresolved struct {
	total int64
	last  entry
}

func (s *State) fetchWithoutSerial(ev Event, at int64) {
	s.fetches.total++
	s.fetches.last = entry{at: at, event: s.words.code(ev.Name), result: s.words.code(ev.Outcome), addr: parseAddr(ev.Remote), file: ev.File, reason: ev.Reason}
}
