package bootstrap

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealboot/sealboot/plugins/leases"
)

// poolCollector reports each pool's size and how much of it is in use,
// read at scrape time from the current configuration (pools change on
// reload) and the lease stores: an alert fires before a pool runs out.
type poolCollector struct {
	p          *Plugin
	size, used *prometheus.Desc
}

func newPoolCollector(p *Plugin) *poolCollector {
	labels := []string{"family", "pool"}
	return &poolCollector{p: p,
		size: prometheus.NewDesc("sealboot_dhcp_pool_addresses", "Addresses in each DHCP pool.", labels, nil),
		used: prometheus.NewDesc("sealboot_dhcp_pool_used_addresses",
			"Addresses of each DHCP pool not free: leased, offered, quarantined after a decline, or reserved.", labels, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.used
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.p.cfg.Load()
	emit := func(family string, st *leases.Store, pool leases.Pool) {
		if st == nil || !pool.Start.IsValid() {
			return
		}
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(pool.Size()), family, pool.String())
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(st.InUse(pool)), family, pool.String())
	}
	if cfg.V4 != nil {
		for _, s := range cfg.V4.subnets() {
			emit("v4", c.p.v4, s.Pool)
		}
	}
	if cfg.V6 != nil {
		emit("v6", c.p.v6, cfg.V6.Pool)
		for _, s := range cfg.V6.Relayed {
			emit("v6", c.p.v6, s.Pool)
		}
	}
}
