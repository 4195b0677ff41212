package tftpd

import (
	"testing"
	"time"
)

func newSlots() *slots { return &slots{perPeer: map[string]int{}, from: map[string]int{}} }

func TestSlotsHandOverInOrder(t *testing.T) {
	s := newSlots()
	if r := s.acquire("a", "a:1", 1, 4, -1); r != admitted {
		t.Fatalf("first: %v", r)
	}
	order := make(chan string, 2)
	for _, p := range []string{"b", "c"} {
		go func() {
			if r := s.acquire(p, p+":1", 1, 4, time.Hour); r != admitted {
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
	if s.acquire("a", "a:1", 10, 1, -1) != admitted {
		t.Fatal("first")
	}
	if r := s.acquire("a", "a:1", 10, 1, time.Hour); r != clientLimit {
		t.Fatalf("over the per-client limit: %v, want clientLimit at once", r)
	}
	if r := s.acquire("b", "b:1", 1, 4, -1); r != globalLimit {
		t.Fatalf("full, no wait: %v", r)
	}
	if r := s.acquire("b", "b:1", 1, 4, time.Millisecond); r != globalLimit {
		t.Fatalf("full, short wait: %v", r)
	}
	if _, w, mine := s.counts("b"); w != 0 || mine != 0 {
		t.Fatalf("a refused waiter stays counted: %d waiting, %d for b", w, mine)
	}
	// The line holds queueFactor × maxTotal requests; then refusal is immediate.
	for i := range queueFactor {
		p := string(rune('c' + i))
		go s.acquire(p, p+":1", 1, 4, time.Hour)
		waitFor(t, p+" in line", func() bool { _, w, _ := s.counts(""); return w == i+1 })
	}
	if r := s.acquire("z", "z:1", 1, 4, time.Hour); r != globalLimit {
		t.Fatalf("line full: %v, want globalLimit", r)
	}
}

func TestSlotsReload(t *testing.T) {
	s := newSlots()
	for _, p := range []string{"a", "b"} {
		if s.acquire(p, p+":1", 2, 4, -1) != admitted {
			t.Fatal(p)
		}
	}
	done := make(chan struct{})
	go func() { s.acquire("c", "c:1", 2, 4, time.Hour); close(done) }()
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

func TestSlotsRetransmittedRequestWaitsToo(t *testing.T) {
	s := newSlots()
	if s.acquire("h", "h:1", 1, 1, -1) != admitted {
		t.Fatal("holder")
	}
	got := make(chan refusal, 2)
	go func() { got <- s.acquire("a", "a:1", 1, 1, time.Hour) }()
	waitFor(t, "a in line", func() bool { _, w, _ := s.counts(""); return w == 1 })
	// The same request again, from the same port: it joins the line rather
	// than being refused under the per-client limit of 1.
	go func() { got <- s.acquire("a", "a:1", 1, 1, time.Hour) }()
	waitFor(t, "the retransmission in line", func() bool { _, w, _ := s.counts(""); return w == 2 })
	// Another request from the same address, another port: over its limit.
	if r := s.acquire("a", "a:2", 1, 1, time.Hour); r != clientLimit {
		t.Fatalf("second request from a: %v, want clientLimit", r)
	}
	s.release("h", 1)
	if r := <-got; r != admitted {
		t.Fatalf("after the holder: %v", r)
	}
	s.release("a", 1)
	if r := <-got; r != admitted {
		t.Fatalf("the retransmission: %v", r)
	}
	s.release("a", 1)
	if a, w, _ := s.counts(""); a != 0 || w != 0 || len(s.perPeer) != 0 || len(s.from) != 0 {
		t.Fatalf("all released: %d active, %d waiting, peers %v, ports %v", a, w, s.perPeer, s.from)
	}
}
