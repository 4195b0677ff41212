package plugins

import (
	"net"
	"os"
	"strconv"
	"strings"
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
	// The kernel grants what was asked (doubled, for its bookkeeping), or
	// at most net.core.rmem_max without CAP_NET_ADMIN.
	want := size
	if !bufs[0].forced {
		raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Fatal(err)
		}
		max, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		want = min(size, max)
	}
	if bufs[0].bytes < want {
		t.Fatalf("%+v: want at least %d bytes", bufs[0], want)
	}
	// Another process may own port+1 in this namespace, but not this one.
	if bufs, err := raiseReceiveBuffers(port+1, size); err == nil {
		t.Fatalf("port %d: found sockets of ours: %+v", port+1, bufs)
	}
}
