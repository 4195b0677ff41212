package leases

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestParsePool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		size     uint64
		err      string
	}{
		{in: "192.0.2.100-192.0.2.199", want: "192.0.2.100-192.0.2.199", size: 100},
		{in: " 10.0.0.1 - 10.0.0.1 ", want: "10.0.0.1-10.0.0.1", size: 1},
		{in: "2001:db8::100-2001:db8::1ff", want: "2001:db8::100-2001:db8::1ff", size: 256},
		{in: "2001:db8::-2001:db8::ffff:ffff:ffff:ffff", size: 1 << 63, want: "2001:db8::-2001:db8::ffff:ffff:ffff:ffff"},
		{in: "10.0.0.1", err: `invalid pool "10.0.0.1" (want start-end)`},
		{in: "10.0.0-10.0.0.9", err: `invalid pool "10.0.0-10.0.0.9": bad start address`},
		{in: "10.0.0.1-x", err: `invalid pool "10.0.0.1-x": bad end address`},
		{in: "10.0.0.9-10.0.0.1", err: `invalid pool "10.0.0.9-10.0.0.1": ends before it starts`},
		{in: "10.0.0.1-2001:db8::1", err: `invalid pool "10.0.0.1-2001:db8::1": start and end are of different families`},
	}
	for _, tt := range tests {
		p, err := ParsePool(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParsePool(%q): %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || p.String() != tt.want || p.Size() != tt.size {
			t.Errorf("ParsePool(%q) = %v (size %d), %v", tt.in, p, p.Size(), err)
		}
	}
	p, _ := ParsePool("10.0.0.250-10.0.1.5")
	if got := p.At(7).String(); got != "10.0.1.1" {
		t.Errorf("At(7) = %s", got)
	}
	if !p.Contains(netip.MustParseAddr("::ffff:10.0.1.5")) || p.Contains(netip.MustParseAddr("10.0.1.6")) {
		t.Error("Contains")
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newStore(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	s, err := Open(Options{Path: path, Now: c.now, OfferTTL: time.Minute}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mac(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }

func TestOfferAckSemantics(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newStore(t, "", c)
	pool, _ := ParsePool("192.0.2.10-192.0.2.12")
	a, b := ClientID4(mac(1), nil), ClientID4(mac(2), nil)

	ipA, err := s.Offer(pool, a, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Offer(pool, a, netip.Addr{}); again != ipA {
		t.Fatalf("second offer to the same client moved: %s → %s", ipA, again)
	}
	// b asks for a's offered address: it is reserved.
	if ipB, _ := s.Offer(pool, b, ipA); ipB == ipA {
		t.Fatal("an address offered to a was offered to b")
	}
	if _, err := s.Ack(pool, Lease{IP: ipA, ClientID: b}, time.Hour); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("b acked a's offer: %v", err)
	}
	la, err := s.Ack(pool, Lease{IP: ipA, ClientID: a, MAC: mac(1), Serial: "SN1"}, time.Hour)
	if err != nil || !la.Expires.Equal(c.now().Add(time.Hour)) {
		t.Fatalf("ack: %+v %v", la, err)
	}
	if serial, m, ok := s.LookupIP(ipA); !ok || serial != "SN1" || m.String() != mac(1).String() {
		t.Fatalf("LookupIP: %q %v %v", serial, m, ok)
	}
	if _, err := s.Ack(pool, Lease{IP: netip.MustParseAddr("192.0.2.99"), ClientID: a}, time.Hour); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("ack outside the pool: %v", err)
	}
	// Exhaustion: three addresses, a holds one, b and c take the rest.
	ipB, _ := s.Offer(pool, b, netip.Addr{})
	s.Ack(pool, Lease{IP: ipB, ClientID: b}, time.Hour)
	ipC, _ := s.Offer(pool, "c", netip.Addr{})
	s.Ack(pool, Lease{IP: ipC, ClientID: "c"}, time.Hour)
	if _, err := s.Offer(pool, "d", netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("full pool: %v", err)
	}
	// Release: the address is free again, but its client gets it back first.
	if err := s.Release(b, ipB); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.LookupIP(ipB); ok {
		t.Fatal("released lease still active")
	}
	if back, _ := s.Offer(pool, b, netip.Addr{}); back != ipB {
		t.Fatalf("returning client got %s, not its old %s", back, ipB)
	}
	// Expiry.
	c.add(2 * time.Hour)
	if _, _, ok := s.LookupIP(ipA); ok {
		t.Fatal("expired lease still active")
	}
	// Decline quarantines.
	if err := s.Decline(ipC); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ack(pool, Lease{IP: ipC, ClientID: "c"}, time.Hour); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("declined address acked: %v", err)
	}
	c.add(11 * time.Minute)
	if _, err := s.Ack(pool, Lease{IP: ipC, ClientID: "c"}, time.Hour); err != nil {
		t.Fatalf("quarantine did not end: %v", err)
	}
}

func TestPrefersNeverUsedAddresses(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newStore(t, "", c)
	pool, _ := ParsePool("10.0.0.1-10.0.0.2")
	ip1, _ := s.Offer(pool, "old", netip.Addr{})
	s.Ack(pool, Lease{IP: ip1, ClientID: "old"}, time.Minute)
	c.add(time.Hour) // old's lease expired
	if ip, _ := s.Offer(pool, "new", netip.Addr{}); ip == ip1 {
		t.Fatal("took an expired client's address while a never-used one was free")
	}
	// With no never-used address left, expired ones are taken.
	ip2, _ := s.Offer(pool, "new", netip.Addr{})
	s.Ack(pool, Lease{IP: ip2, ClientID: "new"}, time.Hour)
	if ip, err := s.Offer(pool, "third", netip.Addr{}); err != nil || ip != ip1 {
		t.Fatalf("expired address not reused: %s %v", ip, err)
	}
}

func TestConcurrentClientsNeverShareAnAddress(t *testing.T) {
	t.Parallel()
	s := newStore(t, filepath.Join(t.TempDir(), "l.journal"), &clock{t: time.Now()})
	pool, _ := ParsePool("10.1.0.0-10.1.3.255") // 1024
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 120 {
				id := fmt.Sprintf("c%d-%d", g, i)
				ip, err := s.Offer(pool, id, netip.Addr{})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id}, time.Hour); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := got[ip]; dup {
					t.Errorf("%s given to %s and %s", ip, other, id)
				}
				got[ip] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != 960 {
		t.Fatalf("%d leases", len(got))
	}
}

func TestIPv6Pool(t *testing.T) {
	t.Parallel()
	s := newStore(t, "", &clock{t: time.Now()})
	pool, _ := ParsePool("2001:db8::-2001:db8::ffff:ffff:ffff:ffff")
	seen := map[netip.Addr]bool{}
	for i := range 200 {
		id := ClientID6([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, byte(i)}, [4]byte{0, 0, 0, 1})
		ip, err := s.Offer(pool, id, netip.Addr{})
		if err != nil || !pool.Contains(ip) || seen[ip] {
			t.Fatalf("offer %d: %s %v", i, ip, err)
		}
		seen[ip] = true
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJournalReplay(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "leases.journal")
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newStore(t, path, c)
	pool, _ := ParsePool("10.0.0.1-10.0.0.100")
	ips := map[string]netip.Addr{}
	for i := range 5 {
		id := ClientID4(mac(i), nil)
		ip, _ := s.Offer(pool, id, netip.Addr{})
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id, MAC: mac(i), Serial: fmt.Sprintf("SN%d", i), Inventory: i == 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
		ips[id] = ip
	}
	s.Release(ClientID4(mac(4), nil), ips[ClientID4(mac(4), nil)])
	s.Decline(netip.MustParseAddr("10.0.0.100"))
	s.Close()

	// Append a corrupt line and a torn last record, as a crash could leave.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("Z garbage\nA 10.0.0.50 18000")
	f.Close()
	core, logs := observer.New(zap.DebugLevel)
	s2, err := Open(Options{Path: path, Now: c.now}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for i := range 4 {
		id := ClientID4(mac(i), nil)
		serial, m, ok := s2.LookupIP(ips[id])
		if !ok || serial != fmt.Sprintf("SN%d", i) || m.String() != mac(i).String() {
			t.Fatalf("lease %d after replay: %q %v %v", i, serial, m, ok)
		}
		if l, _ := s2.LookupClient(id); l.Inventory != (i == 1) {
			t.Fatalf("lease %d: serial from the inventory = %v after replay", i, l.Inventory)
		}
		if back, _ := s2.Offer(pool, id, netip.Addr{}); back != ips[id] {
			t.Fatalf("client %d got %s after restart, had %s", i, back, ips[id])
		}
	}
	if _, _, ok := s2.LookupIP(ips[ClientID4(mac(4), nil)]); ok {
		t.Fatal("released lease active after replay")
	}
	if _, err := s2.Ack(pool, Lease{IP: netip.MustParseAddr("10.0.0.100"), ClientID: "x"}, time.Hour); !errors.Is(err, ErrNotAvailable) {
		t.Fatal("quarantine lost in replay")
	}
	if logs.FilterMessageSnippet("corrupt record").Len() != 1 || logs.FilterMessageSnippet("partial record").Len() != 1 {
		t.Fatalf("warnings: %v", logs.All())
	}
	// Open compacted the journal: one header, one record per lease or quarantine.
	data, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1+5+1 || lines[0] != journalHeader {
		t.Fatalf("compacted journal:\n%s", data)
	}
}

// The crash test: a child process acknowledges leases and is killed with
// SIGKILL right after; every acknowledged lease survives.
func TestCrashKeepsAcknowledgedLeases(t *testing.T) {
	if os.Getenv("SEALBOOT_LEASE_CRASH_CHILD") != "" {
		crashChild(os.Getenv("SEALBOOT_LEASE_CRASH_CHILD"))
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "leases.journal")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashKeepsAcknowledgedLeases$")
	cmd.Env = append(os.Environ(), "SEALBOOT_LEASE_CRASH_CHILD="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	for sc.Scan() {
		if n, err := fmt.Sscanf(sc.Text(), "acked %d", &acked); n == 1 && err == nil && acked >= 500 {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if acked < 500 {
		t.Fatalf("child acked only %d", acked)
	}
	s, err := Open(Options{Path: path}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range acked {
		ip := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		serial, m, ok := s.LookupIP(ip)
		if !ok || serial != fmt.Sprintf("SN%05d", i) || m.String() != mac(i).String() {
			t.Fatalf("lease %d (%s) lost after kill -9: %q %v %v", i, ip, serial, m, ok)
		}
	}
	t.Logf("all %d acknowledged leases survived kill -9", acked)
}

func crashChild(path string) {
	s, err := Open(Options{Path: path, SyncInterval: time.Hour}, zap.NewNop(), nil) // no fsync: kill -9 must not need one
	if err != nil {
		panic(err)
	}
	pool, _ := ParsePool("10.9.0.0-10.9.255.255")
	for i := 0; ; i++ {
		ip := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: ClientID4(mac(i), nil), MAC: mac(i), Serial: fmt.Sprintf("SN%05d", i)}, time.Hour); err != nil {
			panic(err)
		}
		fmt.Printf("acked %d\n", i+1)
	}
}

// A full disk cuts a record short. The leases acknowledged before and after
// (once there is room again) must survive a restart: the torn record must
// not swallow the next one. Needs root to mount a small tmpfs.
func TestFullDiskKeepsOtherLeases(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	path := filepath.Join(dir, "leases.journal")
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s, err := Open(Options{Path: path, Now: c.now, OfferTTL: time.Minute}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := ParsePool("10.0.0.1-10.0.3.250")
	acked := map[string]netip.Addr{}
	ack := func(i int) error {
		id := ClientID4(mac(i), nil)
		ip, err := s.Offer(pool, id, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id, MAC: mac(i), Serial: fmt.Sprintf("SN%d", i), Inventory: i == 1}, time.Hour); err != nil {
			return err
		}
		acked[id] = ip
		return nil
	}
	if err := ack(0); err != nil {
		t.Fatal(err)
	}
	// Fill the file system; only the journal's last page has room left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	i := 1
	var size int64
	for ; ; i++ {
		fi, _ := os.Stat(path)
		size = fi.Size()
		if err := ack(i); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("lease %d: %v, want ENOSPC", i, err)
			}
			break
		}
	}
	// The last page had room, so the kernel wrote part of the record.
	if size%4096 == 0 {
		t.Fatalf("the journal filled its last page exactly (%d bytes): no partial write to test", size)
	}
	if after, _ := os.ReadFile(path); int64(len(after)) != size || after[len(after)-1] != '\n' {
		t.Fatalf("after the failed write: %d bytes, want the %d of whole records", len(after), size)
	}
	os.Remove(filepath.Join(dir, "filler"))
	for j := i; j < i+3; j++ { // room again, the failed one too
		if err := ack(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Path: path, Now: c.now}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for id, ip := range acked {
		if l, ok := s2.LookupClient(id); !ok || l.IP != ip {
			t.Errorf("lease of %s at %s lost after the disk was full: %v %v", id, ip, l, ok)
		}
	}
}

// Withdraw frees a client's outstanding offer (it chose another server's),
// never a lease, and only the client's own offer.
func TestWithdraw(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newStore(t, "", c)
	pool, _ := ParsePool("192.0.2.10-192.0.2.10")
	a, b := ClientID4(mac(1), nil), ClientID4(mac(2), nil)
	ip, err := s.Offer(pool, a, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offer(pool, b, netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("offered twice: %v", err)
	}
	if s.Withdraw(b) {
		t.Fatal("withdrew an offer b never had")
	}
	if !s.Withdraw(a) || s.Withdraw(a) {
		t.Fatal("Withdraw(a): want true once, then false")
	}
	got, err := s.Offer(pool, b, netip.Addr{})
	if err != nil || got != ip {
		t.Fatalf("after the withdrawal b got %v, %v", got, err)
	}
	if _, err := s.Ack(pool, Lease{IP: got, ClientID: b}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if s.Withdraw(b) {
		t.Fatal("an acknowledged lease counted as an offer")
	}
	if _, _, ok := s.LookupIP(ip); !ok {
		t.Fatal("Withdraw ended a lease")
	}
}
