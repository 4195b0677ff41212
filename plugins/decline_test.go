package plugins

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
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

// filterVM runs a DECLINE filter in x/net/bpf's interpreter.
func filterVM(tb testing.TB, filter func() ([]bpf.RawInstruction, error)) *bpf.VM {
	tb.Helper()
	prog, err := filter()
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

// kept runs a packet through the filter.
func kept(t *testing.T, vm *bpf.VM, name string, pkt []byte) bool {
	t.Helper()
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n > 0
}

func TestDeclineFilter(t *testing.T) {
	vm := filterVM(t, declineFilter)
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
		if kept(t, vm, tc.name, tc.pkt) != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, !tc.keep, tc.keep)
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
	vm4, vm6 := filterVM(f, declineFilter), filterVM(f, declineFilter6)
	d, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline))
	f.Add(ipv4UDP(d.ToBytes(), 67, 0, 0))
	f.Add(ipv4UDP(d.ToBytes(), 67, 40, 0))
	m, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
	m.MessageType = dhcpv6.MessageTypeDecline
	f.Add(ipv6UDP(m.ToBytes(), 17, 547))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if n, err := vm4.Run(pkt); err == nil && n > 0 {
			_, _ = parseDecline(pkt)
		}
		if n, err := vm6.Run(pkt); err == nil && n > 0 {
			_, _, _ = parseDecline6(pkt)
		}
	})
}

// ipv6UDP wraps payload in an IPv6 header (next header nh) and a UDP
// header from port 546 to dst.
func ipv6UDP(payload []byte, nh byte, dst uint16) []byte {
	pkt := make([]byte, 48+len(payload))
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], uint16(8+len(payload)))
	pkt[6], pkt[7] = nh, 255
	copy(pkt[8:24], net.ParseIP("fe80::2"))
	copy(pkt[24:40], net.ParseIP("ff02::1:2"))
	binary.BigEndian.PutUint16(pkt[40:], 546)
	binary.BigEndian.PutUint16(pkt[42:], dst)
	binary.BigEndian.PutUint16(pkt[44:], uint16(8+len(payload)))
	copy(pkt[48:], payload)
	return pkt
}

func TestDeclineFilter6(t *testing.T) {
	vm := filterVM(t, declineFilter6)
	msg := func(mt dhcpv6.MessageType) []byte {
		m, _ := dhcpv6.NewMessage(dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
		m.MessageType = mt
		return m.ToBytes()
	}
	inner, _ := dhcpv6.FromBytes(msg(dhcpv6.MessageTypeDecline))
	fwd, _ := dhcpv6.EncapsulateRelay(inner, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8:1::1"), net.ParseIP("fe80::3"))
	relayed := fwd.ToBytes()
	for _, tc := range []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"Decline", ipv6UDP(msg(dhcpv6.MessageTypeDecline), 17, 547), true},
		{"Solicit", ipv6UDP(msg(dhcpv6.MessageTypeSolicit), 17, 547), false},
		{"Relay-forward (may hold a Decline)", ipv6UDP(relayed, 17, 547), true},
		{"Decline to port 546", ipv6UDP(msg(dhcpv6.MessageTypeDecline), 17, 546), false},
		{"Decline behind an extension header", ipv6UDP(msg(dhcpv6.MessageTypeDecline), 0, 547), false},
		{"truncated", ipv6UDP(msg(dhcpv6.MessageTypeDecline), 17, 547)[:47], false},
	} {
		if kept(t, vm, tc.name, tc.pkt) != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, !tc.keep, tc.keep)
		}
		if tc.keep {
			from, m, ok := parseDecline6(tc.pkt)
			if !ok || (m.Type() != dhcpv6.MessageTypeDecline && m.Type() != dhcpv6.MessageTypeRelayForward) || from.Port != 546 || from.IP.String() != "fe80::2" {
				t.Errorf("%s: parsed %v %v %v", tc.name, from, m, ok)
			}
		}
	}
	if _, _, ok := parseDecline6(ipv6UDP(msg(dhcpv6.MessageTypeDecline), 17, 547)[:50]); ok {
		t.Error("parsed a truncated packet")
	}
}
