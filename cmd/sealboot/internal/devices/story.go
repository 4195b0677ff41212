package devices

import (
	"container/heap"
	"slices"
)

// entry is one event of a device's story, as kept: what an operator reads
// in `sealboot status SN`, in a fixed small shape.
type entry struct {
	at     int64  // UnixNano
	addr   ipPort // DHCP: the address; fetch: the remote address
	file   string // DHCP: the bootfile; fetch: the name asked for
	reason string
	bytes  int64
	mac    hwAddr
	event  uint8 // words
	result uint8 // outcome or state
}

// stories is a set of devices' stories, with a min-heap of the devices
// by their story's oldest entry, which finds the oldest entry of all.
// State keeps two (devices with a file, and strays: those without) and
// bounds them together (see State.trimStories).
type stories struct {
	live int
	h    storyHeap
}

// add appends e to d's story, keeping at most perDevice entries there.
func (s *stories) add(d *device, e entry, perDevice int) {
	a := d.activity()
	if len(a.story) >= perDevice {
		a.story = dropFront(a.story)
		s.live--
	}
	a.story = grow(a.story, perDevice)
	a.story = append(a.story, e)
	s.live++
	if a.heapIdx == 0 {
		heap.Push(&s.h, d)
	} else {
		heap.Fix(&s.h, int(a.heapIdx-1))
	}
}

// dropOldest drops the oldest entry of all the set's stories.
func (s *stories) dropOldest() {
	old := s.h[0].act
	old.story = dropFront(old.story)
	s.live--
	if len(old.story) == 0 {
		heap.Pop(&s.h)
	} else {
		heap.Fix(&s.h, 0)
	}
}

// take removes d's story from the set, leaving it with d (for put).
func (s *stories) take(d *device) {
	a := d.act
	if a == nil || a.heapIdx == 0 {
		return
	}
	heap.Remove(&s.h, int(a.heapIdx-1))
	s.live -= len(a.story)
}

// put adds d's story, taken from the other set, to this one.
func (s *stories) put(d *device) {
	a := d.act
	if a == nil || len(a.story) == 0 {
		return
	}
	heap.Push(&s.h, d)
	s.live += len(a.story)
}

// forget drops a forgotten device's story.
func (s *stories) forget(d *device) {
	s.take(d)
	if d.act != nil {
		d.act.story = nil
	}
}

// grow makes room for one more entry, growing slowly: most devices have
// a few events, and slack in 100,000 stories adds up.
func grow(s []entry, limit int) []entry {
	if len(s) < cap(s) {
		return s
	}
	n := min(max(len(s)+1, len(s)*5/4), limit)
	return slices.Grow(s, n-len(s))
}

// dropFront removes the oldest entry, giving memory back once the story
// uses under half of what it holds.
func dropFront(s []entry) []entry {
	s = slices.Delete(s, 0, 1)
	if len(s) == 0 {
		return nil
	}
	if cap(s) > 4 && len(s) <= cap(s)/2 {
		s = slices.Clip(slices.Clone(s))
	}
	return s
}

// storyHeap orders devices by their story's oldest entry.
type storyHeap []*device

func (h storyHeap) Len() int           { return len(h) }
func (h storyHeap) Less(i, j int) bool { return h[i].act.story[0].at < h[j].act.story[0].at }
func (h storyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].act.heapIdx, h[j].act.heapIdx = int32(i+1), int32(j+1)
}
func (h *storyHeap) Push(x any) {
	d := x.(*device)
	d.act.heapIdx = int32(len(*h) + 1)
	*h = append(*h, d)
}
func (h *storyHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	d.act.heapIdx = 0
	return d
}
