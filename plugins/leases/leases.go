// Package leases allocates DHCP addresses from pools and keeps the leases
// durably, and is the binding table the TFTP server asks which device holds
// an address.
//
// Addresses are reserved in memory on DISCOVER/Solicit (an offer) and
// written to an append-only journal on ACK/Reply: the record reaches the
// kernel (write(2)) before Ack returns, so a process killed right after
// (kill -9) loses nothing; fsync is batched every Options.SyncInterval so a
// burst of ACKs does not queue behind the disk. The journal is compacted
// when it grows to several times the live leases.
//
// Journal format (text, one record per line; fields are separated by one
// space and "-" means empty):
//
//	sealboot-leases 1                                   first line
//	A <ip> <expires unix seconds> <client id> <mac> <serial>   acknowledged lease
//	R <ip> <client id> <released at, unix seconds>      released
//	D <ip> <quarantined until, unix seconds>           declined (RFC 2131 4.3.3)
//
// A torn last line (a crash in the middle of a write) is dropped with a
// warning. A corrupt line in the middle is skipped with a warning, not
// fatal: refusing to start would take DHCP down for the whole POP, and
// the records that follow still apply; the warning names the line.
package leases

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Lease is one address bound to one client.
type Lease struct {
	IP       netip.Addr
	ClientID string           // see ClientID4 and ClientID6
	MAC      net.HardwareAddr // may be nil
	Serial   string           // device serial, "" when not recognised
	// Inventory: Serial came from the inventory file, which is asked
	// afresh on every request; a serial seen in a packet is remembered
	// for requests that lack it, an inventory's is not (a device removed
	// from the inventory must lose it).
	Inventory bool
	Expires   time.Time
}

// Active reports whether the lease is in force at now.
func (l Lease) Active(now time.Time) bool { return now.Before(l.Expires) }

// ClientID4 is the key of a DHCPv4 client: its hardware address. RFC 2131
// section 4.2 prefers the client identifier (option 61), but bootstrapping
// devices change it between attempts (Cisco IOS-XE alternates 0x00+serial
// and "cisco-<mac>-<if>"), which would give one device several leases; as
// Kea's match-client-id: false, sealboot keys by chaddr, and falls back to
// option 61 only when there is no hardware address.
func ClientID4(mac net.HardwareAddr, clientIdentifier []byte) string {
	if len(mac) > 0 && !allZero(mac) {
		return "mac:" + mac.String()
	}
	return "id:" + hex.EncodeToString(clientIdentifier)
}

// ClientID6 is the key of a DHCPv6 IA_NA: the client's DUID and the IAID
// (RFC 8415 section 12).
func ClientID6(duid []byte, iaid [4]byte) string {
	return "duid:" + hex.EncodeToString(duid) + "/iaid:" + hex.EncodeToString(iaid[:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Pool is a contiguous range of addresses of one family.
type Pool struct{ Start, End netip.Addr }

// ParsePool reads "start-end", e.g. "192.0.2.100-192.0.2.199" or
// "2001:db8::100-2001:db8::1ff".
func ParsePool(s string) (Pool, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Pool{}, fmt.Errorf("invalid pool %q (want start-end)", s)
	}
	start, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return Pool{}, fmt.Errorf("invalid pool %q: bad start address", s)
	}
	end, err := netip.ParseAddr(strings.TrimSpace(b))
	if err != nil {
		return Pool{}, fmt.Errorf("invalid pool %q: bad end address", s)
	}
	start, end = start.Unmap(), end.Unmap()
	if start.Is4() != end.Is4() {
		return Pool{}, fmt.Errorf("invalid pool %q: start and end are of different families", s)
	}
	if end.Less(start) {
		return Pool{}, fmt.Errorf("invalid pool %q: ends before it starts", s)
	}
	return Pool{start, end}, nil
}

// Contains reports whether ip is in the pool.
func (p Pool) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.Is4() == p.Start.Is4() && !ip.Less(p.Start) && !p.End.Less(ip)
}

// Size is the number of addresses, capped at 2^63.
func (p Pool) Size() uint64 {
	shi, slo := u128(p.Start)
	ehi, elo := u128(p.End)
	lo, borrow := bits.Sub64(elo, slo, 0)
	hi, _ := bits.Sub64(ehi, shi, borrow)
	if hi != 0 || lo >= 1<<63 {
		return 1 << 63
	}
	return lo + 1
}

// At returns the i-th address of the pool (i < Size).
func (p Pool) At(i uint64) netip.Addr {
	if p.Start.Is4() {
		b := p.Start.As4()
		v := binary.BigEndian.Uint32(b[:]) + uint32(i)
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	hi, lo := u128(p.Start)
	lo, carry := bits.Add64(lo, i, 0)
	hi += carry
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

func u128(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// String is the "start-end" form.
func (p Pool) String() string { return p.Start.String() + "-" + p.End.String() }

// Errors callers test with errors.Is.
var (
	// ErrPoolExhausted means no free address is left in the pool.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrNotAvailable means the address is outside the pool or held by
	// another client: the caller NAKs (RFC 2131 section 4.3.2).
	ErrNotAvailable = errors.New("address not available to this client")
)
