package devices

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMemory100kSerials reports the heap 100,000 serials cost, each
// with a certificate and a config (seeded), a DHCP offer and ack and a
// served fetch (run with -benchtime 1x). bench/status.sh measures the
// resident memory of the same through a logger (membench).
func BenchmarkMemory100kSerials(b *testing.B) {
	const n = 100000
	serials, fps := make([]string, n), make([]string, n)
	for i := range serials {
		serials[i], fps[i] = fmt.Sprintf("SC%06d", i), fmt.Sprintf("%064x", i)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		now := time.Now()
		for i, serial := range serials {
			s.SeedCertificate(serial, fps[i], "P-256")
			s.SeedConfig(serial, "ready", "", 1500)
			ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)
			for _, name := range []string{EventOffer, EventAck} {
				s.Apply(Event{Time: now, Name: name, Serial: serial, IP: ip, MAC: mac, Vendor: "juniper", Model: "mx204",
					Relay: "198.51.100.1", CircuitID: "ge-0/0/1", Bootfile: serial + ".enc"})
			}
			s.Apply(Event{Time: now, Name: "tftp.fetch", Serial: serial, Outcome: "served", File: serial + ".enc",
				Remote: ip + ":49152", MAC: mac, Bytes: 2100})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/100k-serials")
		runtime.KeepAlive(s)
	}
}
