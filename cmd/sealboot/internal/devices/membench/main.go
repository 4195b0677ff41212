// Command membench measures what the per-device state costs: it logs, for
// each of -serials devices, the events a fleet's bring-up produces (a DHCP
// offer and ack, a served TFTP fetch) through a JSON logger like serve's,
// with the state tapping the logger (-state) or not, after seeding each
// serial's certificate and config as serve does from its first scans. It
// prints one JSON line: resident memory now (after a GC), at its peak, and
// the Go heap. bench/status.sh runs it both ways and prints the difference.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

func main() {
	n := flag.Int("serials", 100000, "devices")
	withState := flag.Bool("state", true, "keep the per-device state")
	events := flag.Bool("events", true, "log each device's DHCP and fetch events (false: only the start's certificates and configs)")
	flag.Parse()
	// The strings the keystore holds in serve (serials, fingerprints)
	// exist either way: the state shares them.
	serials, fps := make([]string, *n), make([]string, *n)
	for i := range serials {
		serials[i], fps[i] = fmt.Sprintf("SC%06d", i), fmt.Sprintf("%064x", i)
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	var st *devices.State
	if *withState {
		st = devices.New(devices.Options{})
		core = zapcore.NewTee(core, st.Core())
		for i, serial := range serials {
			st.SeedCertificate(serial, fps[i], "P-256")
			st.SeedConfig(serial, "ready", "", 1500)
		}
	}
	log := zap.New(core)
	start := time.Now()
	for i, serial := range serials {
		if *events {
			fleetEvents(log, i, serial)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := map[string]any{
		"state": *withState, "events": *events, "serials": *n, "rss_mib": status("VmRSS"), "peak_rss_mib": status("VmHWM"),
		"heap_mib": float64(ms.HeapAlloc) / (1 << 20), "events_per_s": float64(3**n) / elapsed.Seconds(),
	}
	if st != nil {
		out["devices"] = st.List(devices.Filter{Limit: 1}).Summary.Devices
	}
	runtime.KeepAlive(serials)
	runtime.KeepAlive(fps)
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// fleetEvents logs device i's bring-up with the fields the components log.
func fleetEvents(log *zap.Logger, i int, serial string) {
	ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)
	for _, ev := range []string{"dhcp.offer", "dhcp.ack"} {
		log.Info(ev, zap.String("event", ev), zap.String("serial", serial), zap.String("mac", mac), zap.String("ip", ip),
			zap.String("bootfile", serial+".enc"), zap.String("vendor", "juniper"), zap.String("model", "mx204"),
			zap.String("source", "option 60"), zap.String("relay", "198.51.100.1"), zap.String("circuit_id", "ge-0/0/1"))
	}
	log.Info("tftp fetch served", zap.String("event", "tftp.fetch"), zap.String("outcome", "served"), zap.String("serial", serial),
		zap.String("file", serial+".enc"), zap.String("remote", ip+":49152"), zap.String("mac", mac), zap.Int64("bytes", 2100),
		zap.Int("blksize", 1468), zap.Duration("duration", 3*time.Millisecond), zap.String("fingerprint", ""),
		zap.Bool("cached", false), zap.Bool("encrypted", true), zap.String("reason", ""))
}

// status is a /proc/self/status field in MiB.
func status(key string) float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
