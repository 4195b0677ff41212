package leases

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkOfferAck is one DISCOVER+REQUEST worth of store work per
// operation, from parallel goroutines, with the journal on disk and fsync
// every 100ms.
func BenchmarkOfferAck(b *testing.B) {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), "l.journal")}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pool, _ := ParsePool("10.0.0.0-10.0.255.255")
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("mac:%012x", i%60000)
			ip, err := s.Offer(pool, id, netip.Addr{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Ack(pool, Lease{IP: ip, ClientID: id, Serial: "SN"}, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
}
