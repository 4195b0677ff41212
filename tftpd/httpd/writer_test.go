package httpd

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// recorder is net/http's writer as the writer sees it: it records what
// each ReadFrom was given and the deadlines set.
type recorder struct {
	http.ResponseWriter
	readers   []io.Reader
	deadlines []time.Time
}

func (r *recorder) Header() http.Header { return http.Header{} }
func (r *recorder) WriteHeader(int)     {}
func (r *recorder) Write(p []byte) (int, error) {
	return len(p), nil
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	lr := src.(*io.LimitedReader)
	r.readers = append(r.readers, lr.R)
	return io.Copy(io.Discard, src)
}

func (r *recorder) SetWriteDeadline(t time.Time) error {
	r.deadlines = append(r.deadlines, t)
	return nil
}

// The writer hands the file to net/http window by window as an
// *io.LimitedReader over the file itself (a syscall.Conn), which is what
// net's sendfile needs; each window gets a deadline within the whole
// transfer's.
func TestWriterKeepsSendfile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "img")
	sparse(t, path, 3<<20+5)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := (&Config{Window: 1 << 20, MinRate: 1 << 20, TransferGrace: time.Second}).withDefaults()
	rec := &recorder{}
	w := newWriter(rec, &cfg)
	start := time.Now()
	w.limit(start, 3<<20+5)
	n, err := io.CopyN(w, &sized{File: f, size: 3<<20 + 5}, 3<<20+5) // what http.ServeContent does
	if err != nil || n != 3<<20+5 || w.n != n {
		t.Fatalf("copied %d (counted %d): %v", n, w.n, err)
	}
	if len(rec.readers) != 4 {
		t.Fatalf("%d windows for 3 MiB + 5 in windows of 1 MiB", len(rec.readers))
	}
	for i, r := range rec.readers {
		if _, ok := r.(syscall.Conn); !ok {
			t.Fatalf("window %d reads from %T, which sendfile cannot use", i, r)
		}
	}
	end := start.Add(cfg.TransferGrace + 3*time.Second + 5*time.Second/(1<<20))
	for i, d := range rec.deadlines {
		if d.After(end.Add(time.Millisecond)) {
			t.Fatalf("deadline %d is %v after the whole transfer's", i, d.Sub(end))
		}
	}
}
