package netns

import (
	"net"
	"strings"
	"testing"
)

func TestPairPings(t *testing.T) {
	a, b := Pair(t, []string{"192.0.2.1/24", "2001:db8::1/64"}, []string{"192.0.2.2/24", "2001:db8::2/64"})
	// Ready as the e2e tests take it: IPv6 up on both ends. A single echo
	// right after the link came up was lost once in three clean-clone runs
	// of .ci/run; three echoes, one answered, say the pair works.
	for _, l := range []*Link{a, b} {
		if err := l.WaitLinkLocal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, dst := range []string{"192.0.2.2", "2001:db8::2"} {
		out, err := a.NS.Output("ping", "-c3", "-i0.2", "-W2", dst)
		if err != nil && !strings.Contains(out, " received") {
			t.Fatalf("ping %s from %s: %v", dst, a.NS.Name, err)
		}
		if strings.Contains(out, " 0 received") {
			t.Fatalf("ping %s: %s", dst, out)
		}
	}
}

func TestDoOpensSocketInNamespace(t *testing.T) {
	a, _ := Pair(t, []string{"192.0.2.1/24"}, []string{"192.0.2.2/24"})
	// Binding 192.0.2.1 only works inside a's namespace, where the address is.
	var conn net.PacketConn
	err := a.NS.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", "192.0.2.1:0")
		return err
	})
	if err != nil {
		t.Fatalf("bind inside %s: %v", a.NS.Name, err)
	}
	defer conn.Close()
	if _, err := net.ListenPacket("udp4", "192.0.2.1:0"); err == nil {
		t.Fatal("bound 192.0.2.1 outside the namespace: Do did not isolate")
	}
}

func TestSegmentJoinsThree(t *testing.T) {
	links := []*Link{
		{NS: New(t, "sbA"), Addrs: []string{"192.0.2.1/24"}},
		{NS: New(t, "sbB"), Addrs: []string{"192.0.2.2/24"}},
		{NS: New(t, "sbC"), Addrs: []string{"192.0.2.3/24"}},
	}
	Segment(t, links...)
	// Each answers: its ARP reply came back to a broadcast request.
	for _, dst := range []string{"192.0.2.2", "192.0.2.3"} {
		if out, err := links[0].NS.Output("ping", "-c3", "-i0.2", "-W2", dst); strings.Contains(out, " 0 received") {
			t.Fatalf("ping %s: %v: %s", dst, err, out)
		}
	}
}
