package main

import (
	"errors"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
)

// components are the parts of a running server, built from one
// configuration.
type components struct {
	tasks   []daemon.Task
	listen  []string
	reg     *prometheus.Registry
	reloads []func(*config.Config) error
}

func (c *components) names() []string {
	out := make([]string, len(c.tasks))
	for i, t := range c.tasks {
		out[i] = t.Name
	}
	return out
}

func (c *components) listening() []string { return c.listen }

// reload applies cfg to every component that supports it.
func (c *components) reload(cfg *config.Config) error {
	var errs []error
	for _, r := range c.reloads {
		errs = append(errs, r(cfg))
	}
	return errors.Join(errs...)
}

// buildComponents constructs every component of `sealboot serve` from cfg.
func buildComponents(cfg *config.Config, log *zap.Logger) (*components, error) {
	c := &components{reg: prometheus.NewRegistry()}
	c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Metrics.Listen != "" {
		c.tasks = append(c.tasks, daemon.Task{Name: "metrics", Component: newMetricsServer(cfg.Metrics.Listen, c.reg, log.Named("metrics"))})
		c.listen = append(c.listen, "metrics "+cfg.Metrics.Listen)
	}
	return c, nil
}

// restartOnly lists the keys that differ between the running and the new
// configuration but only take effect when sealboot restarts: they change
// which sockets are open or where state lives.
func restartOnly(old, cur *config.Config) []string {
	var out []string
	for _, f := range []struct {
		key  string
		a, b any
	}{
		{"state_dir", old.StateDir, cur.StateDir},
		{"keys_dir", old.KeysDir, cur.KeysDir},
		{"configs_dir", old.ConfigsDir, cur.ConfigsDir},
		{"log.format", old.Log.Format, cur.Log.Format},
		{"metrics.listen", old.Metrics.Listen, cur.Metrics.Listen},
		{"watch.extension", old.Watch.Extension, cur.Watch.Extension},
		{"tftp.listen", old.TFTP.Listen, cur.TFTP.Listen},
		{"dhcp.enabled", old.DHCP.Enabled, cur.DHCP.Enabled},
		{"dhcp.v4.interfaces", old.DHCP.V4.Interfaces, cur.DHCP.V4.Interfaces},
		{"dhcp.v6.interfaces", old.DHCP.V6.Interfaces, cur.DHCP.V6.Interfaces},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			out = append(out, f.key)
		}
	}
	return out
}
