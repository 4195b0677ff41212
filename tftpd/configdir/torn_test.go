package configdir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestRewrittenWhileReadIsNotServed: a settled config that a careless tool
// rewrites in place, same size, while a request is reading it, is not
// served as the mix of the two versions the read saw (the start of the old
// one, the end of the new one): Config says ErrNotReady, as it does for a
// rewrite seen before the read. The rewrite here writes the end first, so
// that a read already under way sees it; whether a read is under way when
// it lands is timing, so the test tries many times.
func TestRewrittenWhileReadIsNotServed(t *testing.T) {
	t.Parallel()
	const size = 256 << 10
	oldV, newV := bytes.Repeat([]byte("A"), size), bytes.Repeat([]byte("B"), size)
	var torn, rounds, reads atomic.Int64
	for round := 0; round < 100 && torn.Load() == 0; round++ {
		dir := t.TempDir()
		p := filepath.Join(dir, "SN1.cfg")
		writeOld(t, p, oldV)
		d, err := New(Config{Dir: dir, Settle: time.Hour, MaxSize: size}, &certSet{m: map[string]bool{}}, zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.initialScan(); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					data, _, err := d.Config("SN1")
					switch {
					case errors.Is(err, ErrNotReady):
					case err != nil:
						t.Error(err)
						return
					case !bytes.Equal(data, oldV):
						torn.Add(1)
						return
					default:
						reads.Add(1)
					}
				}
			})
		}
		for start := reads.Load(); reads.Load() < start+2; { // the readers are reading
			runtime.Gosched()
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteAt(newV[size/2:], size/2)
		_, _ = f.WriteAt(newV[:size/2], 0)
		f.Close()
		close(stop)
		wg.Wait()
		d.dir.Load().Close()
		rounds.Add(1)
	}
	if n := torn.Load(); n > 0 {
		t.Fatalf("a config rewritten in place while it was read was served as a mix of two versions (%d rounds)", rounds.Load())
	}
}
