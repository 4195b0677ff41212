package fetch

import "testing"

func TestHeld(t *testing.T) {
	var h Held[string]
	for i := range 3 {
		if held, ok := h.Take("a", 3); !ok || held != i {
			t.Fatalf("take %d: held %d, ok %v", i+1, held, ok)
		}
	}
	if held, ok := h.Take("a", 3); ok || held != 3 {
		t.Fatalf("over the limit: held %d, ok %v", held, ok)
	}
	if _, ok := h.Take("b", 3); !ok {
		t.Fatal("another key was refused")
	}
	h.Put("a")
	if _, ok := h.Take("a", 3); !ok {
		t.Fatal("a slot given back was not taken again")
	}
	for range 3 {
		h.Put("a")
	}
	h.Put("b")
	if n := h.Len(); n != 0 {
		t.Fatalf("%d keys left after every take was given back", n)
	}
}
