package plugins

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
)

// ipv4UDP wraps payload in an IPv4 header with options of optLen bytes
// (to move the UDP header) and a UDP header to port dst.
func ipv4UDP(payload []byte, dst uint16, optLen int, fragOff uint16) []byte {
	ihl := 20 + optLen
	pkt := make([]byte, ihl+8+len(payload))
	pkt[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(pkt[6:], fragOff)
	pkt[8], pkt[9] = 64, 17
	binary.BigEndian.PutUint16(pkt[ihl:], 68)
	binary.BigEndian.PutUint16(pkt[ihl+2:], dst)
	binary.BigEndian.PutUint16(pkt[ihl+4:], uint16(8+len(payload)))
	copy(pkt[ihl+8:], payload)
	return pkt
}

// filterVM runs the DECLINE filter in x/net/bpf's interpreter.
func filterVM(tb testing.TB) *bpf.VM {
	tb.Helper()
	prog, err := declineFilter()
	if err != nil {
		tb.Fatal(err)
	}
	ins := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		tb.Fatal(err)
	}
	return vm
}

func TestDeclineFilter(t *testing.T) {
	vm := filterVM(t)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	msg := func(mt dhcpv4.MessageType) []byte {
		d, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 107))))
		return d.ToBytes()
	}
	declineBytes := msg(dhcpv4.MessageTypeDecline)
	// Option 53 first (as busybox udhcpc and ISC dhclient send it), after
	// pads, and later than the filter looks.
	withOptions := func(opts ...byte) []byte {
		return append(append([]byte{}, declineBytes[:240]...), opts...)
	}
	first := withOptions(53, 1, 4, 50, 4, 192, 0, 2, 107, 255)
	padded := withOptions(0, 0, 50, 4, 192, 0, 2, 107, 0, 53, 1, 4, 255)
	var late []byte
	for range maxOptionsBeforeType {
		late = append(late, 60, 2, 'x', 'y')
	}
	tooLate := withOptions(append(late, 53, 1, 4, 255)...)
	discoverLate := withOptions(50, 4, 192, 0, 2, 107, 53, 1, 1, 255)
	for _, tc := range []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"DECLINE, options sorted by code", ipv4UDP(declineBytes, 67, 0, 0), true},
		{"DECLINE, option 53 first", ipv4UDP(first, 67, 0, 0), true},
		{"DECLINE after pads", ipv4UDP(padded, 67, 0, 0), true},
		{"DISCOVER, option 53 second", ipv4UDP(discoverLate, 67, 0, 0), false},
		{"DECLINE, IP options", ipv4UDP(declineBytes, 67, 8, 0), true},
		{"DISCOVER", ipv4UDP(msg(dhcpv4.MessageTypeDiscover), 67, 0, 0), false},
		{"REQUEST", ipv4UDP(msg(dhcpv4.MessageTypeRequest), 67, 0, 0), false},
		{"DECLINE to port 68", ipv4UDP(declineBytes, 68, 0, 0), false},
		{"first fragment", ipv4UDP(declineBytes, 67, 0, 0x2000), false},
		{"later fragment", ipv4UDP(declineBytes, 67, 0, 0x0010), false},
		{"option 53 beyond the options the filter walks", ipv4UDP(tooLate, 67, 0, 0), false},
		{"truncated", ipv4UDP(declineBytes, 67, 0, 0)[:100], false},
	} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (n > 0) != tc.keep {
			t.Errorf("%s: filter returned %d, want keep=%v", tc.name, n, tc.keep)
		}
		if tc.keep {
			req, ok := parseDecline(tc.pkt)
			if !ok || req.MessageType() != dhcpv4.MessageTypeDecline || req.ClientHWAddr.String() != mac.String() {
				t.Errorf("%s: parsed %v %v", tc.name, req, ok)
			}
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 19), ipv4UDP(declineBytes, 67, 0, 0)[:30]} {
		if _, ok := parseDecline(bad); ok {
			t.Errorf("parsed a %d-byte fragment of a packet", len(bad))
		}
	}
}

// FuzzDeclineFilter: any packet runs through the filter without a fault,
// and whatever it passes parses without a panic.
func FuzzDeclineFilter(f *testing.F) {
	vm := filterVM(f)
	d, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline))
	f.Add(ipv4UDP(d.ToBytes(), 67, 0, 0))
	f.Add(ipv4UDP(d.ToBytes(), 67, 40, 0))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if n, err := vm.Run(pkt); err == nil && n > 0 {
			_, _ = parseDecline(pkt)
		}
	})
}
