package devices

// lru lists devices most recently seen first, through their activity's
// prev and next fields.
type lru struct {
	head, tail *device
	n          int
}

// front puts d at the head, adding it if it is not listed.
func (l *lru) front(d *device, a *activity) {
	if a.listed {
		if l.head == d {
			return
		}
		l.remove(d)
	}
	a.listed = true
	a.prev, a.next = nil, l.head
	if l.head != nil {
		l.head.act.prev = d
	}
	l.head = d
	if l.tail == nil {
		l.tail = d
	}
	l.n++
}

// remove takes d out of the list, if it is in it.
func (l *lru) remove(d *device) {
	a := d.act
	if a == nil || !a.listed {
		return
	}
	if a.prev != nil {
		a.prev.act.next = a.next
	} else {
		l.head = a.next
	}
	if a.next != nil {
		a.next.act.prev = a.prev
	} else {
		l.tail = a.prev
	}
	a.prev, a.next, a.listed = nil, nil, false
	l.n--
}
