package tftpd

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// BenchmarkFetchWarm is one 64 KiB config (sealed: about 89 KB of PEM)
// fetched from the cache by 16 concurrent clients with blksize 1468.
func BenchmarkFetchWarm(b *testing.B) {
	id := device(b, "SNB", keystore.P256)
	configs := &fakeConfigs{m: map[string][]byte{"SNB": bytes.Repeat([]byte("interface ge-0/0/0 description x\n"), 1986)}, e: map[string]error{}}
	srv, err := New(Config{Listen: []string{"127.0.0.1:0"}, MaxPerClient: 64}, newFetcher(b, fetch.Config{}, fetch.Deps{Configs: configs, Certificates: fakeCerts{"SNB": id}}, zap.NewNop()), zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	<-srv.Ready()
	addr := srv.Addrs()[0].String()
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for n.Add(1) <= int64(b.N) {
				c, _ := tftp.NewClient(addr)
				c.SetBlockSize(1468)
				c.SetTimeout(2 * time.Second)
				wt, err := c.Receive("SNB.enc", "octet")
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := wt.WriteTo(io.Discard); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
