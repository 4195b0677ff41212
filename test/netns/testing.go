package netns

import "context"

// TB is the part of testing.TB the helpers below use; it keeps the testing
// package out of the sealboot binary, which uses this package for its demo.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	Logf(format string, args ...any)
}

// New creates a namespace for a test and deletes it when the test ends. It
// skips the test when namespaces cannot be created (not root).
func New(t TB, prefix string) *NS {
	t.Helper()
	if err := Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ns, err := Create(prefix)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return ns
}

// Pair creates two namespaces joined by a veth pair with the given addresses
// (CIDR) and returns both ends.
func Pair(t TB, aAddrs, bAddrs []string) (a, b *Link) {
	t.Helper()
	a = &Link{NS: New(t, "sbA"), Addrs: aAddrs}
	b = &Link{NS: New(t, "sbB"), Addrs: bAddrs}
	if err := Veth(a, b); err != nil {
		t.Fatalf("%v", err)
	}
	return a, b
}

// SlowPair creates two namespaces joined by a SlowLink with the given
// addresses (CIDR) and shape, and closes it when the test ends. Its A and B
// are the two ends, as Pair returns them.
func SlowPair(t TB, aAddrs, bAddrs []string, shape Shape) *SlowLink {
	t.Helper()
	a := &Link{NS: New(t, "sbA"), Addrs: aAddrs}
	b := &Link{NS: New(t, "sbB"), Addrs: bAddrs}
	s, err := NewSlowLink(context.Background(), a, b, shape)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return s
}
