// Command slowlink joins two existing network namespaces by a slow link (a
// TUN device in each and a forwarder that holds every packet for the delay:
// see test/netns's SlowLink) and keeps it up until SIGINT or SIGTERM. It is
// for scripts, which cannot hold a link open from Go themselves:
//
//	ip netns add A; ip netns add B
//	slowlink --ns-a A --ns-b B --addr-a 10.77.0.1/24 --addr-b 10.77.0.2/24 --delay 25ms &
//
// It prints one line starting with "slowlink ready" on standard output once
// both devices are up, and the counters of both directions on standard error
// when it stops. The kernel here has no netem; this stands in for it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/sealboot/sealboot/test/netns"
)

func main() { os.Exit(run()) }

func run() int {
	var a, b netns.Link
	var nsA, nsB, addrA, addrB, rate string
	var shape netns.Shape
	flag.StringVar(&nsA, "ns-a", "", "namespace of end A (must exist)")
	flag.StringVar(&nsB, "ns-b", "", "namespace of end B (must exist)")
	flag.StringVar(&a.Name, "dev-a", "", "device name in A (default: random tun…)")
	flag.StringVar(&b.Name, "dev-b", "", "device name in B (default: random tun…)")
	flag.StringVar(&addrA, "addr-a", "", "addresses of A, CIDR, comma-separated (e.g. 10.77.0.1/24,fd77::1/64)")
	flag.StringVar(&addrB, "addr-b", "", "addresses of B, CIDR, comma-separated")
	flag.DurationVar(&shape.Delay, "delay", 0, "one-way delay, each direction (25ms: a 50 ms round trip)")
	flag.StringVar(&rate, "rate", "0", "link speed in bits per second, k/M/G suffixes (10M); 0: unlimited")
	flag.Float64Var(&shape.Loss, "loss", 0, "probability a packet is dropped, 0 to 1")
	flag.IntVar(&shape.Queue, "queue", 0, fmt.Sprintf("packets held per direction (default %d)", netns.DefaultQueue))
	flag.IntVar(&shape.MTU, "mtu", 0, "MTU of both devices (default 1500)")
	flag.Parse()
	if nsA == "" || nsB == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: slowlink --ns-a NS --ns-b NS [--addr-a CIDR,…] [--addr-b CIDR,…] [--delay 25ms] [--rate 10M] [--loss 0.01]")
		return 2
	}
	var err error
	if shape.Rate, err = parseRate(rate); err != nil {
		fmt.Fprintln(os.Stderr, "slowlink:", err)
		return 2
	}
	if err := netns.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "slowlink:", err)
		return 1
	}
	a.NS, a.Addrs = &netns.NS{Name: nsA}, split(addrA)
	b.NS, b.Addrs = &netns.NS{Name: nsB}, split(addrB)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	link, err := netns.NewSlowLink(ctx, &a, &b, shape)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowlink:", err)
		return 1
	}
	fmt.Printf("slowlink ready: %s/%s %v <-> %s/%s %v, delay %v each way, rate %d bit/s, loss %g\n",
		nsA, a.Name, a.Addrs, nsB, b.Name, b.Addrs, link.Shape.Delay, link.Shape.Rate, link.Shape.Loss)
	<-ctx.Done()
	if err := link.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "slowlink:", err)
		return 1
	}
	ab, ba := link.Stats()
	fmt.Fprintf(os.Stderr, "slowlink: a→b %+v\nslowlink: b→a %+v\n", ab, ba)
	return 0
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// parseRate reads a bit rate: a number with an optional k, M or G (powers of
// 1000).
func parseRate(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad rate %q: want bits per second, e.g. 10M", s)
	}
	return int64(v * float64(mult)), nil
}
