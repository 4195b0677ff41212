package tftpd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	fetches   *prometheus.CounterVec
	duration  prometheus.Histogram
	bytes     prometheus.Counter
	active    prometheus.Gauge
	malformed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_tftp_transfers", Help: "Transfers in progress.",
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_tftp_malformed_packets_total", Help: "Packets on the TFTP port that were not valid requests.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.fetches, m.duration, m.bytes, m.active, m.malformed)
	}
	return m
}

func (m *metrics) observe(outcome string, d time.Duration, bytes int64) {
	m.fetches.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
	m.bytes.Add(float64(bytes))
}
