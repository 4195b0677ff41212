package tftpd

import (
	"testing"
	"time"
)

func newSlots() *slots { return &slots{perPeer: map[string]int{}} }

func TestSlotsHandOverInOrder(t *testing.T) {
	s := newSlots()
	if r := s.acquire("a", 1, 4, -1); r != admitted {
		t.Fatalf("first: %v", r)
	}
	order := make(chan string, 2)
	for _, p := range []string{"b", "c"} {
		go func() {
			if r := s.acquire(p, 1, 4, time.Hour); r != admitted {
				t.Errorf("%s: %v", p, r)
			}
			order <- p
		}()
		waitFor(t, p+" in line", func() bool { _, w, _ := s.counts(""); return w == map[string]int{"b": 1, "c": 2}[p] })
	}
	s.release("a", 1)
	if p := <-order; p != "b" {
		t.Fatalf("first handed a slot: %s, want b (it asked first)", p)
	}
	s.release("b", 1)
	if p := <-order; p != "c" {
		t.Fatalf("then %s, want c", p)
	}
	s.release("c", 1)
	if a, w, _ := s.counts(""); a != 0 || w != 0 || len(s.perPeer) != 0 {
		t.Fatalf("all released: %d active, %d waiting, peers %v", a, w, s.perPeer)
	}
}

func TestSlotsLimits(t *testing.T) {
	s := newSlots()
	if s.acquire("a", 10, 1, -1) != admitted {
		t.Fatal("first")
	}
	if r := s.acquire("a", 10, 1, time.Hour); r != clientLimit {
		t.Fatalf("over the per-client limit: %v, want clientLimit at once", r)
	}
	if r := s.acquire("b", 1, 4, -1); r != globalLimit {
		t.Fatalf("full, no wait: %v", r)
	}
	if r := s.acquire("b", 1, 4, time.Millisecond); r != globalLimit {
		t.Fatalf("full, short wait: %v", r)
	}
	if _, w, mine := s.counts("b"); w != 0 || mine != 0 {
		t.Fatalf("a refused waiter stays counted: %d waiting, %d for b", w, mine)
	}
	// The line holds queueFactor × maxTotal requests; then refusal is immediate.
	for i := range queueFactor {
		p := string(rune('c' + i))
		go s.acquire(p, 1, 4, time.Hour)
		waitFor(t, p+" in line", func() bool { _, w, _ := s.counts(""); return w == i+1 })
	}
	if r := s.acquire("z", 1, 4, time.Hour); r != globalLimit {
		t.Fatalf("line full: %v, want globalLimit", r)
	}
}

func TestSlotsReload(t *testing.T) {
	s := newSlots()
	for _, p := range []string{"a", "b"} {
		if s.acquire(p, 2, 4, -1) != admitted {
			t.Fatal(p)
		}
	}
	done := make(chan struct{})
	go func() { s.acquire("c", 2, 4, time.Hour); close(done) }()
	waitFor(t, "c in line", func() bool { _, w, _ := s.counts(""); return w == 1 })
	// Lowered to 1: the first release only brings the count down to it.
	s.release("a", 1)
	if a, w, _ := s.counts(""); a != 1 || w != 1 {
		t.Fatalf("after lowering: %d active, %d waiting; want 1, 1", a, w)
	}
	// Raised to 3: the next release fills the new slots from the line.
	s.release("b", 3)
	<-done
	if a, w, _ := s.counts(""); a != 1 || w != 0 {
		t.Fatalf("after raising: %d active, %d waiting; want 1, 0", a, w)
	}
}

func TestRequestsRecogniseRetransmissions(t *testing.T) {
	r := requests{m: map[string]*request{}}
	if first, _ := r.join("a:1\x00f"); !first {
		t.Fatal("the first copy")
	}
	if first, _ := r.join("a:2\x00f"); !first {
		t.Fatal("another port is another request")
	}
	if first, _ := r.join("a:1\x00g"); !first {
		t.Fatal("another file is another request")
	}
	var copies []<-chan struct{}
	for range maxCopies {
		first, done := r.join("a:1\x00f")
		if first || done == nil {
			t.Fatalf("a retransmission: first %v, done %v", first, done)
		}
		copies = append(copies, done)
	}
	if first, done := r.join("a:1\x00f"); first || done != nil {
		t.Fatalf("one copy too many: first %v, done %v; want it to end at once", first, done)
	}
	select {
	case <-copies[0]:
		t.Fatal("copies released while the first is in progress")
	default:
	}
	r.leave("a:1\x00f")
	for _, c := range copies {
		<-c
	}
	if first, _ := r.join("a:1\x00f"); !first {
		t.Fatal("asked again after the first was done: a new request")
	}
}
