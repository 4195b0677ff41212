package tftpd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	fetches   *prometheus.CounterVec
	duration  prometheus.Histogram
	bytes     prometheus.Counter
	malformed prometheus.Counter
	repeated  prometheus.Counter
}

// newMetrics registers the counters, and gauges of the transfer slots read
// at scrape time (so a request waiting in line shows while it waits).
func newMetrics(reg prometheus.Registerer, sl *slots) *metrics {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_tftp_fetches_total", Help: "TFTP requests by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sealboot_tftp_fetch_duration_seconds", Help: "Time from request to the end of the transfer or refusal.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_tftp_sent_bytes_total", Help: "Bytes of configs sent.",
		}),
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
	if reg != nil {
		reg.MustRegister(m.fetches, m.duration, m.bytes, active, waiting, m.malformed, m.repeated)
	}
	return m
}

func (m *metrics) observe(outcome string, d time.Duration, bytes int64) {
	m.fetches.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
	m.bytes.Add(float64(bytes))
}
