package leases

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// smallTmpfs mounts a tmpfs of size on a fresh directory, or skips the
// test when it cannot (not root).
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes to path until the file system is full, then frees room
// bytes of it again.
func fill(t *testing.T, path string, room int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	for {
		m, err := f.Write(make([]byte, 4096))
		n += int64(m)
		if err != nil {
			break
		}
	}
	if err := f.Truncate(max(0, n-room)); err != nil {
		t.Fatal(err)
	}
}

// Start-up compaction needs room for a copy of the live leases. On a disk
// without that room, sealboot starts on the journal as it is, removes the
// partial copy, says so once, and loses nothing; a copy left by a crash
// is removed at start. Once there is room, the next start compacts.
func TestStartWithoutRoomToCompact(t *testing.T) {
	dir := smallTmpfs(t, "256k")
	path := filepath.Join(dir, "leases4.journal")
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	pool, _ := ParsePool("10.0.0.1-10.0.15.250")
	acked := map[string]netip.Addr{}
	ack := func(s *Store, i int) {
		t.Helper()
		id := ClientID4(mac(i), nil)
		ip, err := s.Offer(pool, id, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id, MAC: mac(i), Serial: fmt.Sprintf("SN%05d", i)}, time.Hour); err != nil {
			t.Fatalf("lease %d: %v", i, err)
		}
		acked[id] = ip
	}
	s := newStore(t, path, c)
	for i := range 1500 { // about 110 KiB of distinct leases
		ack(s, i)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash during a compaction left its copy behind; then the disk
	// filled up, with less room than the copy needs.
	if err := os.WriteFile(path+".tmp", []byte(journalHeader+"\nA 10.0.0.1 1 partial"), 0o640); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"), 16<<10)

	core, logs := observer.New(zap.InfoLevel)
	s2, err := Open(Options{Path: path, Now: c.now}, zap.New(core), nil)
	if err != nil {
		t.Fatalf("start on a full disk: %v", err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file after a failed compaction: %v, want it removed", err)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("compact")
	if warns.Len() != 1 || !strings.Contains(fmt.Sprint(warns.All()[0].ContextMap()["error"]), "no space left") {
		t.Errorf("want one Warn saying why compaction failed, got %v", logs.All())
	}
	if logs.FilterMessageSnippet("interrupted compaction").Len() != 1 {
		t.Errorf("the leftover's removal is not logged: %v", logs.All())
	}
	for i := 1500; i < 1510; i++ { // the journal still takes new leases
		ack(s2, i)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "filler"))

	s3, err := Open(Options{Path: path, Now: c.now}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	for id, ip := range acked {
		if l, ok := s3.LookupClient(id); !ok || l.IP != ip {
			t.Fatalf("lease of %s at %s lost: %v %v", id, ip, l, ok)
		}
	}
	data, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1+len(acked) || lines[0] != journalHeader {
		t.Errorf("journal not compacted once there was room: %d lines for %d leases", len(lines), len(acked))
	}
}

// A compaction that fails when the journal ends in a partial record
// carries on after it: the next record starts on a line of its own.
func TestStartWithoutRoomAfterTornRecord(t *testing.T) {
	dir := smallTmpfs(t, "128k")
	path := filepath.Join(dir, "leases4.journal")
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	pool, _ := ParsePool("10.0.0.1-10.0.15.250")
	s := newStore(t, path, c)
	var ips []netip.Addr
	for i := range 600 {
		id := ClientID4(mac(i), nil)
		ip, _ := s.Offer(pool, id, netip.Addr{})
		if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id, Serial: fmt.Sprintf("SN%05d", i)}, time.Hour); err != nil {
			t.Fatal(err)
		}
		ips = append(ips, ip)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("A 10.0.0.250 18000")
	f.Close()
	fill(t, filepath.Join(dir, "filler"), 8<<10)

	s2, err := Open(Options{Path: path, Now: c.now}, zap.NewNop(), nil)
	if err != nil {
		t.Fatalf("start on a full disk: %v", err)
	}
	id := ClientID4(mac(9999), nil)
	ip, _ := s2.Offer(pool, id, netip.Addr{})
	if _, err := s2.Ack(pool, Lease{IP: ip, ClientID: id, Serial: "SNLAST"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	os.Remove(filepath.Join(dir, "filler"))
	s3, err := Open(Options{Path: path, Now: c.now}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if serial, _, ok := s3.LookupIP(ip); !ok || serial != "SNLAST" {
		t.Errorf("lease acknowledged after the torn record: %q %v", serial, ok)
	}
	for i, ip := range ips {
		if serial, _, ok := s3.LookupIP(ip); !ok || serial != fmt.Sprintf("SN%05d", i) {
			t.Fatalf("lease %d lost: %q %v", i, serial, ok)
		}
	}
}
