package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
)

// metricsServer serves /metrics for Prometheus from the daemon's own
// registry.
type metricsServer struct {
	addr  string
	pprof bool
	gath  prometheus.Gatherer
	log   *zap.Logger
	ready chan struct{}
	bound chan net.Addr
	// admin, when set, serves the status page and API beside /metrics.
	admin http.Handler
}

func newMetricsServer(addr string, withPProf bool, g prometheus.Gatherer, log *zap.Logger) *metricsServer {
	return &metricsServer{addr: addr, pprof: withPProf, gath: g, log: log, ready: make(chan struct{}), bound: make(chan net.Addr, 1)}
}

func (m *metricsServer) Ready() <-chan struct{} { return m.ready }

func (m *metricsServer) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.gath, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(m.log)}))
	if m.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if m.admin != nil {
		mux.Handle("/", m.admin)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintln(w, "sealboot: metrics at /metrics")
		})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.bound <- ln.Addr()
	close(m.ready)
	m.log.Info("metrics listening", zap.String("listen", ln.Addr().String()))
	return daemon.ServeHTTP(ctx, srv, ln, 2*time.Second)
}
