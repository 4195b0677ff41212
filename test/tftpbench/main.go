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
	flag.Parse()

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
