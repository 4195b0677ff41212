// Command tftpbench fetches files from a TFTP server with a number of
// concurrent clients and prints one JSON line: transfers, errors, seconds,
// transfers per second. bench/tftp.sh runs it against sealboot, dnsmasq
// and tftpd-hpa in the same run, so the client's own cost is the same for
// all of them.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
)

func main() { os.Exit(run()) }

func run() int {
	server := flag.String("server", "127.0.0.1:69", "TFTP server host:port")
	pattern := flag.String("pattern", "%s", "file name pattern; %d (or %05d…) takes the file index")
	files := flag.Int("files", 1, "number of distinct files: indexes 1..files")
	transfers := flag.Int("transfers", 1000, "transfers in all")
	workers := flag.Int("workers", 16, "concurrent clients")
	blksize := flag.Int("blksize", 1468, "block size to ask for (RFC 2348)")
	dropDir := flag.String("drop-dir", "", "measure drop-to-served delay: the server's configs directory")
	dropName := flag.String("drop-name", "%d.cfg", "drop mode: config file name pattern, %d takes the file index")
	dropSrc := flag.String("drop-src", "", "drop mode: the config to drop")
	first := flag.Int("first", 1, "drop mode: index of the first device")
	poll := flag.Duration("poll", 10*time.Millisecond, "drop mode: interval between requests")
	flag.Parse()
	if *dropDir != "" {
		return drops(*server, *pattern, *dropDir, *dropName, *dropSrc, *first, *files, *poll, *blksize)
	}

	var next, fails, bytes atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*transfers) {
					return
				}
				n, err := fetch(*server, fmt.Sprintf(*pattern, (i-1)%int64(*files)+1), *blksize)
				if err != nil {
					if fails.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "tftpbench:", err)
					}
					continue
				}
				bytes.Add(n)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	ok := int64(*transfers) - fails.Load()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"transfers": ok, "errors": fails.Load(), "seconds": secs,
		"per_second": float64(ok) / secs, "bytes_per_transfer": bytes.Load() / max(ok, 1),
	})
	if fails.Load() > 0 {
		return 1
	}
	return 0
}

func fetch(server, name string, blksize int) (int64, error) {
	c, err := tftp.NewClient(server)
	if err != nil {
		return 0, err
	}
	c.SetBlockSize(blksize)
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return wt.WriteTo(io.Discard)
}

// drops drops n configs one after the other and measures, for each, the
// time from its rename into place to the first successful fetch.
func drops(server, pattern, dir, name, src string, first, n int, poll time.Duration, blksize int) int {
	cfg, err := os.ReadFile(src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tftpbench:", err)
		return 1
	}
	delays := make([]float64, 0, n)
	polls := 0
	for i := first; i < first+n; i++ {
		dst := filepath.Join(dir, fmt.Sprintf(name, i))
		tmp := filepath.Join(dir, ".tftpbench.tmp")
		if err := os.WriteFile(tmp, cfg, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "tftpbench:", err)
			return 1
		}
		start := time.Now()
		if err := os.Rename(tmp, dst); err != nil {
			fmt.Fprintln(os.Stderr, "tftpbench:", err)
			return 1
		}
		for {
			polls++
			if _, err := fetch(server, fmt.Sprintf(pattern, i), blksize); err == nil {
				break
			}
			if time.Since(start) > time.Minute {
				fmt.Fprintf(os.Stderr, "tftpbench: %s not served a minute after it was dropped\n", dst)
				return 1
			}
			time.Sleep(poll)
		}
		delays = append(delays, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(delays)
	pct := func(p float64) float64 { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"drops": n, "polls": polls, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": delays[len(delays)-1],
	})
	return 0
}
