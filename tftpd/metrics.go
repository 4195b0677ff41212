package tftpd

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what only the TFTP transport counts; fetches, their
// durations and bytes are the fetch core's (sealboot_tftp_fetches_total …).
type metrics struct {
	malformed prometheus.Counter
	repeated  prometheus.Counter
}

// newMetrics registers the counters, and gauges of the transfer slots read
// at scrape time (so a request waiting in line shows while it waits).
func newMetrics(reg prometheus.Registerer, sl *slots, drops func() float64) *metrics {
	m := &metrics{
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_tftp_malformed_packets_total", Help: "Packets on the TFTP port that were not valid requests.",
		}),
		repeated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_tftp_retransmitted_requests_total", Help: "Requests that repeated one still in progress (same client address, port and file): answered by the first copy.",
		}),
	}
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sealboot_tftp_transfers", Help: "Transfers in progress.",
	}, func() float64 { a, _, _ := sl.counts(""); return float64(a) })
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sealboot_tftp_waiting_requests", Help: "Requests waiting in line for a transfer slot (tftp.queue_wait).",
	}, func() float64 { _, w, _ := sl.counts(""); return float64(w) })
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sealboot_tftp_receive_dropped_total",
		Help: "Requests the kernel dropped on the TFTP listening sockets: receive buffer full (tftp.receive_buffer), or longer than 516 bytes.",
	}, drops)
	if reg != nil {
		reg.MustRegister(active, waiting, dropped, m.malformed, m.repeated)
	}
	return m
}
