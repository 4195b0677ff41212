package main

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/admin"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/configdir"
)

// newDeviceState is the per-device state serve keeps, bounded as the
// admin section says.
func newDeviceState(cfg *config.Config) *devices.State {
	a := cfg.Admin
	return devices.New(devices.Options{FailingAfter: a.FailingAfter, MaxUnknown: a.MaxUnknownDevices,
		StoryPerDevice: a.StoryEvents, StoryTotal: a.StoryTotal})
}

// addStatus wires the per-device state into the server: seeded from the
// first scans of the keys and configs directories (which summarise rather
// than log each file), its metric, the admin handler the metrics listener
// serves, and the control socket.
func (c *components) addStatus(cfg *config.Config, st *devices.State, keys *keystore.Store, configs *configdir.Dir, log *zap.Logger) {
	c.reg.MustRegister(st.Collector())
	for _, e := range keys.List() {
		st.SeedCertificate(e.Serial, e.Fingerprint, e.KeyType)
	}
	for _, e := range configs.List() {
		st.SeedConfig(e.Serial, e.State, e.Reason, e.Bytes)
	}
	st.SetConfigSums(func(serial string) (string, bool) {
		sum, err := configs.Sum(serial)
		if err != nil {
			return "", false
		}
		return hex.EncodeToString(sum[:]), true
	})
	c.admin = admin.New(admin.Options{Devices: st, NotReady: c.notReady, Version: version, Log: log.Named("admin")})
	c.reloads = append(c.reloads, func(cfg *config.Config) error {
		st.SetFailingAfter(cfg.Admin.FailingAfter)
		return nil
	})
	if path := cfg.SocketPath(os.Getenv, os.Geteuid()); path != "" {
		c.tasks = append(c.tasks, daemon.Task{Name: "admin", Component: admin.NewSocket(path, c.socketHandler(), log.Named("admin"))})
		c.listen = append(c.listen, "admin "+path)
	}
}

// reloadWait bounds how long `sealboot reload` waits for the outcome.
const reloadWait = 5 * time.Minute

// socketHandler is what the control socket serves: the admin handler, and
// POST /api/v1/reload, which reloads the configuration as SIGHUP does and
// answers with the outcome once it is known (200 applied, 422 refused, 500
// partly applied). Only the socket has it: the metrics listener is read-only.
func (c *components) socketHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", c.admin)
	mux.HandleFunc("POST /api/v1/reload", func(w http.ResponseWriter, r *http.Request) {
		// A reload rescans the directories and may wait for one in
		// progress: longer than the socket's write timeout allows.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(reloadWait))
		reply := make(chan reloadResult, 1)
		select {
		case c.reloadRequests <- reply:
		case <-r.Context().Done():
			return
		}
		var res reloadResult
		select {
		case res = <-reply:
		case <-r.Context().Done():
			return
		}
		code := http.StatusOK
		switch res.Outcome {
		case "refused":
			code = http.StatusUnprocessableEntity
		case "partial":
			code = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(res)
	})
	return mux
}

// notReady names the tasks whose components do not serve yet.
func (c *components) notReady() []string {
	var out []string
	for _, t := range c.tasks {
		select {
		case <-t.Component.Ready():
		default:
			out = append(out, t.Name)
		}
	}
	return out
}

// serverMetrics are the whole server's: what runs, and whether the last
// reload was applied (named as Prometheus names its own).
type serverMetrics struct {
	reloadOK, reloadAt prometheus.Gauge
}

func newServerMetrics(reg prometheus.Registerer, goVersion string) *serverMetrics {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sealboot_build_info", Help: "Always 1; the labels say which sealboot and Go this is.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, goVersion).Set(1)
	m := &serverMetrics{
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_config_last_reload_successful", Help: "Whether the last configuration reload was applied (1) or refused or incomplete (0); 1 at start.",
		}),
		reloadAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealboot_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last applied (start or reload), in seconds since the epoch.",
		}),
	}
	m.reloaded(true)
	reg.MustRegister(build, m.reloadOK, m.reloadAt)
	return m
}

// reloaded records a reload's outcome.
func (m *serverMetrics) reloaded(ok bool) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadAt.Set(float64(time.Now().UnixNano()) / 1e9)
}
