package netns

import (
	"net"
	"strings"
	"testing"
)

func TestPairPings(t *testing.T) {
	a, b := Pair(t, []string{"192.0.2.1/24", "2001:db8::1/64"}, []string{"192.0.2.2/24", "2001:db8::2/64"})
	for _, dst := range []string{"192.0.2.2", "2001:db8::2"} {
		if out, err := a.NS.Output("ping", "-c1", "-W2", dst); err != nil {
			t.Fatalf("ping %s from %s: %v", dst, a.NS.Name, err)
		} else if !strings.Contains(out, "1 received") {
			t.Fatalf("ping %s: %s", dst, out)
		}
	}
	_ = b
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
