package plugins

import (
	"net"
	"os"
	"testing"
)

func TestRaiseReceiveBuffers(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	const size = 1 << 20
	bufs, err := raiseReceiveBuffers(port, size)
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 1 {
		t.Fatalf("found %d sockets on port %d, want our one", len(bufs), port)
	}
	b := bufs[0]
	if os.Geteuid() == 0 && (!b.forced || b.bytes < size) {
		t.Fatalf("as root: %+v, want at least %d bytes, forced", b, size)
	}
	if !b.forced && b.bytes <= 0 {
		t.Fatalf("%+v", b)
	}
	// Another process may own port+1 in this namespace, but not this one.
	if bufs, err := raiseReceiveBuffers(port+1, size); err == nil {
		t.Fatalf("port %d: found sockets of ours: %+v", port+1, bufs)
	}
}
