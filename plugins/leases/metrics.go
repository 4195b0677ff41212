package leases

import "github.com/prometheus/client_golang/prometheus"

// registerMetrics exposes the store's state; reg may be nil. Several
// stores (v4, v6) register under a family label.
func registerMetrics(reg prometheus.Registerer, s *Store) {
	if reg == nil {
		return
	}
	family := "v4"
	if s.opts.Family != "" {
		family = s.opts.Family
	}
	labels := prometheus.Labels{"family": family}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sealboot_dhcp_leases", Help: "Active DHCP leases.", ConstLabels: labels,
		}, func() float64 { return float64(s.active()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sealboot_dhcp_lease_journal_syncs_total", Help: "Times the lease journal was synced to disk (fsync).", ConstLabels: labels,
		}, func() float64 {
			if s.j == nil {
				return 0
			}
			s.j.mu.Lock()
			defer s.j.mu.Unlock()
			return float64(s.j.syncs)
		}),
	)
}
