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
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sealboot_dhcp_lease_journal_sync_failures_total", Help: "Syncs of the lease journal to disk (fsync) that failed.", ConstLabels: labels,
		}, func() float64 {
			if s.j == nil {
				return 0
			}
			s.j.mu.Lock()
			defer s.j.mu.Unlock()
			return float64(s.j.syncFailures)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sealboot_dhcp_offers_preempted_total", ConstLabels: labels,
			Help: "Offers to devices with no certificate and no config given instead to a known device, the pool having nothing free.",
		}, func() float64 { return float64(s.preempted.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sealboot_dhcp_offers_reclaimed_total", ConstLabels: labels,
			Help: "Offers given to another client after the short hold, the pool having nothing free.",
		}, func() float64 { return float64(s.reclaimed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sealboot_dhcp_offers_serial_limit_total", ConstLabels: labels,
			Help: "Offers withdrawn because a newer client with the same serial asked, the serial holding the most offers allowed.",
		}, func() float64 { return float64(s.serialLimited.Load()) }),
	)
}
