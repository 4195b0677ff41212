// Command dhcpfloor answers DHCPv4 DISCOVER with OFFER and REQUEST with
// ACK and does nothing else: no leases, no identity, no log, no journal,
// one goroutine reading one socket into one buffer. bench/dhcpcpu.sh runs
// it in the same layout as sealboot and Kea to show what a Go server
// spends per exchange on the receive and send system calls and its
// runtime before any DHCP work: the floor under sealboot's figure.
//
// It is a benchmark tool only: it hands an address made from the client's
// hardware address to whoever asks, and answers relayed requests only
// (to giaddr, port 67), as perfdhcp sends them.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:67", "address to read requests on (a wildcard one also takes broadcasts)")
	server := flag.String("server", "10.0.0.1", "server identifier (option 54) and siaddr")
	prefix := flag.String("net", "10.0.0.0", "first two octets of the addresses handed out")
	flag.Parse()
	sid := netip.MustParseAddr(*server).As4()
	base := netip.MustParseAddr(*prefix).As4()
	pc, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhcpfloor:", err)
		os.Exit(1)
	}
	conn := pc.(*net.UDPConn)
	in := make([]byte, 1500)
	out := make([]byte, 300)
	for {
		n, _, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhcpfloor:", err)
			os.Exit(1)
		}
		typ := msgType(in[:n])
		if typ != 1 && typ != 3 {
			continue
		}
		giaddr := netip.AddrFrom4([4]byte(in[24:28]))
		if !giaddr.IsValid() || giaddr.IsUnspecified() {
			continue
		}
		copy(out, in[:236])
		out[0] = 2 // BOOTREPLY
		// yiaddr from the last two bytes of chaddr, never .0 or .255.
		h := binary.BigEndian.Uint16(in[28+4:28+6])%60000 + 256
		out[16], out[17], out[18], out[19] = base[0], base[1], byte(h>>8), byte(h)
		if out[19] == 0 || out[19] == 255 {
			out[19] = 1
		}
		copy(out[20:24], sid[:])
		o := out[236:236]
		o = append(o, 99, 130, 83, 99)
		reply := byte(2) // OFFER
		if typ == 3 {
			reply = 5 // ACK
		}
		o = append(o, 53, 1, reply, 54, 4, sid[0], sid[1], sid[2], sid[3], 51, 4, 0, 0, 14, 16, 1, 4, 255, 255, 0, 0, 255)
		if _, err := conn.WriteToUDPAddrPort(out[:236+len(o)], netip.AddrPortFrom(giaddr, 67)); err != nil {
			continue
		}
	}
}

// msgType returns option 53 of a BOOTREQUEST, 0 when there is none.
func msgType(p []byte) byte {
	if len(p) < 240 || p[0] != 1 || binary.BigEndian.Uint32(p[236:240]) != 0x63825363 {
		return 0
	}
	for i := 240; i < len(p); {
		code := p[i]
		switch code {
		case 0:
			i++
			continue
		case 255:
			return 0
		}
		if i+1 >= len(p) {
			return 0
		}
		l := int(p[i+1])
		if i+2+l > len(p) {
			return 0
		}
		if code == 53 && l == 1 {
			return p[i+2]
		}
		i += 2 + l
	}
	return 0
}
