package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const bigImageSize = 2 << 30

// imageLab is a lab whose client namespace has a static address and whose
// server has HTTP on and a sparse image of size bytes.
func imageLab(t *testing.T, size int64, httpExtra string) (*lab, *server, string) {
	t.Helper()
	l := newLab(t)
	if err := l.cli.NS.Run("ip", "addr", "add", "192.0.2.50/24", "dev", l.cli.Name); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(l.dir, "state", "images")
	if err := os.MkdirAll(images, 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(images, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := l.start(l.config("http:\n  listen: [\"192.0.2.1:80\"]\n" + httpExtra))
	ev := s.wait("image ready", func(m map[string]any) bool { return m["file"] == "big.img" })
	return l, s, ev["sha256"].(string)
}

// vm reads a field of /proc/PID/status in KiB.
func vm(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestHTTPImageResumeAndMemory: a 2 GiB image: curl -r fetches part of it
// and curl -C - resumes it, as it does after a cut; the result's sha256sum
// is the logged SHA-256 and the ETag; sealboot's peak resident memory stays
// under 100 MiB while 8 clients download it at once.
func TestHTTPImageResumeAndMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 20 GiB; not in -short")
	}
	need(t, "curl", "sha256sum")
	l, s, sum := imageLab(t, bigImageSize, "")
	pid := s.cmd.Process.Pid
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "sealboot" {
		t.Fatalf("pid %d is %q", pid, comm)
	}
	url := "http://192.0.2.1/images/big.img"
	hdr := run(t, l.cli.NS, false, "curl", "-sS", "--fail", "-I", url)
	if !strings.Contains(strings.ToLower(hdr), `etag: "`+sum+`"`) || !strings.Contains(hdr, "Content-Length: 2147483648") {
		t.Fatalf("headers:\n%s", hdr)
	}
	// Cut by hand (the first GiB), and cut by the client giving up.
	for _, cut := range [][]string{
		{"curl", "-sS", "--fail", "-r", "0-1073741823", "-o", "OUT", url},
		{"curl", "-sS", "--fail", "--limit-rate", "100M", "--max-time", "2", "-o", "OUT", url},
	} {
		out := filepath.Join(l.dir, "big.img")
		os.Remove(out)
		for i := range cut {
			if cut[i] == "OUT" {
				cut[i] = out
			}
		}
		run(t, l.cli.NS, true, cut...)
		fi, err := os.Stat(out)
		if err != nil || fi.Size() == 0 || fi.Size() >= bigImageSize {
			t.Fatalf("%v: cut at %v (%v)", cut, fi, err)
		}
		run(t, l.cli.NS, false, "curl", "-sS", "--fail", "-C", "-", "-o", out, url)
		got := run(t, l.cli.NS, false, "sha256sum", out)
		if !strings.HasPrefix(got, sum+" ") {
			t.Fatalf("resumed from %d: sha256sum %s, logged %s", fi.Size(), got, sum)
		}
		resumed := s.wait("http fetch served", func(m map[string]any) bool {
			return m["range"] == fmt.Sprintf("bytes=%d-", fi.Size()) && m["status"] == float64(206)
		})
		t.Logf("cut at %d bytes, resumed: %v bytes, sha256 %s…", fi.Size(), resumed["bytes"], sum[:16])
		os.Remove(out)
	}

	// 8 downloads at once, all the way, while sealboot's memory is sampled.
	before := vm(t, pid, "VmRSS")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	sizes := make([]string, 8)
	for i := range sizes {
		wg.Go(func() {
			out, err := l.cli.NS.Command(ctx, "curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", url).Output()
			if err != nil {
				t.Errorf("download %d: %v", i, err)
			}
			sizes[i] = string(out)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var maxRSS int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-tick.C:
			maxRSS = max(maxRSS, vm(t, pid, "VmRSS"))
		}
	}
	hwm := vm(t, pid, "VmHWM")
	t.Logf("sealboot RSS: %d KiB before, %d KiB at most while 8 clients downloaded 2 GiB each (sampled), VmHWM %d KiB", before, maxRSS, hwm)
	for i, n := range sizes {
		if n != strconv.Itoa(bigImageSize) {
			t.Errorf("download %d: %q bytes", i, n)
		}
	}
	if hwm >= 100<<10 {
		t.Fatalf("peak resident memory %d KiB, over 100 MiB", hwm)
	}
}

// TestHTTPSlowClients: a client that dribbles its headers (slowloris) and
// one that reads a byte a second are cut by the deadlines, each with its
// event, and other clients are served meanwhile.
func TestHTTPSlowClients(t *testing.T) {
	need(t, "curl")
	l, s, _ := imageLab(t, 256<<20, "  header_timeout: 2s\n  transfer_grace: 1s\n  min_rate: 1MiB\n")
	dial := func(rcvbuf int) net.Conn {
		var c net.Conn
		err := l.cli.NS.Do(func() error {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					if rcvbuf > 0 {
						_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
					}
				})
			}}
			var err error
			c, err = d.DialContext(t.Context(), "tcp", "192.0.2.1:80")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Slowloris: a header line every half second, never the end.
	loris := dial(0)
	_, _ = io.WriteString(loris, "GET /images/big.img HTTP/1.1\r\nHost: sealboot\r\n")
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := io.WriteString(loris, "X-Slow: 1\r\n"); err != nil {
				return
			}
		}
	}()
	// A reader of a byte a second, with a small receive buffer.
	slow := dial(4096)
	_, _ = io.WriteString(slow, "GET /images/big.img HTTP/1.1\r\nHost: sealboot\r\n\r\n")
	var slowGot int64
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		r := bufio.NewReaderSize(slow, 16)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range tick.C {
			if _, err := r.ReadByte(); err != nil {
				return
			}
			slowGot++
		}
	}()
	// Another client meanwhile.
	if out := run(t, l.cli.NS, false, "curl", "-sS", "--fail", "-r", "0-1023", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.1/images/big.img"); out != "206" {
		t.Fatalf("another client while two are slow: %s", out)
	}
	lorisEv := s.wait("http fetch timeout", func(m map[string]any) bool { return m["remote"] == loris.LocalAddr().String() })
	if !strings.Contains(lorisEv["reason"].(string), "header_timeout") || lorisEv["file"] != "/images/big.img" {
		t.Fatalf("slowloris event %v", lorisEv)
	}
	if _, err := io.ReadAll(loris); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("slowloris connection: %v", err)
	}
	slowEv := s.wait("http fetch timeout", func(m map[string]any) bool { return m["remote"] == slow.LocalAddr().String() })
	if !strings.Contains(slowEv["reason"].(string), "min_rate") || slowEv["bytes"].(float64) >= 256<<20 {
		t.Fatalf("slow reader event %v", slowEv)
	}
	slow.Close()
	<-slowDone
	t.Logf("slowloris cut: %v; slow reader cut after %v (%v bytes sent, %d read at a byte a second)", lorisEv["duration"], slowEv["duration"], slowEv["bytes"], slowGot)
	if out := run(t, l.cli.NS, false, "curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.1/images/big.img"); out != "200" {
		t.Fatalf("after the cuts: %s", out)
	}
}
