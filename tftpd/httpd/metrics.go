package httpd

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what only the HTTP transport counts; requests, their
// durations and config bytes are the fetch core's
// (sealboot_http_fetches_total …).
type metrics struct {
	imageBytes prometheus.Counter
	conns      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, sl *slots) *metrics {
	m := &metrics{
		imageBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealboot_http_image_sent_bytes_total", Help: "Bytes of images sent over HTTP.",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_http_connections", Help: "Open HTTP client connections.",
		}),
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sealboot_http_requests_in_flight", Help: "HTTP requests being served (holding a slot of http.max_requests).",
	}, func() float64 { return float64(sl.active()) })
	if reg != nil {
		reg.MustRegister(m.imageBytes, m.conns, inflight)
	}
	return m
}
