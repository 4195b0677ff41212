package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/plugins"
	"github.com/sealboot/sealboot/tftpd"
	"github.com/sealboot/sealboot/tftpd/configdir"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/httpd"
	"github.com/sealboot/sealboot/tftpd/images"
	"github.com/sealboot/sealboot/tftpd/sztpd"
)

// components are the parts of a running server, built from one
// configuration.
type components struct {
	tasks   []daemon.Task
	listen  []string
	reg     *prometheus.Registry
	reloads []func(*config.Config) error
	// checks run before any reload is applied: what only a component can
	// tell is wrong (a pool off the interface's link), so that such a file
	// is refused as a whole rather than half applied.
	checks []func(*config.Config) error
	// flushLogs writes the pending summaries of rate-limited log lines
	// (at exit).
	flushLogs func()
	// admin serves the status page and API; nil without device state.
	admin   http.Handler
	metrics *serverMetrics
	// reloadRequests carry the control socket's reload requests to the
	// server, which answers each on its channel once the reload is done.
	reloadRequests chan chan<- reloadResult
}

// check runs every component's check of a new configuration.
func (c *components) check(cfg *config.Config) error {
	var errs []error
	for _, chk := range c.checks {
		errs = append(errs, chk(cfg))
	}
	return errors.Join(errs...)
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
// st (nil: none) is the per-device state: every component's logger feeds
// it, outside any rate limit.
func buildComponents(cfg *config.Config, log *zap.Logger, st *devices.State) (*components, error) {
	return build(cfg, log, st, defaultPacketLogging(), forServe)
}

// buildMode says what the components are built for.
type buildMode int

const (
	forServe buildMode = iota
	// forCheck builds every component as serve does, reading every file
	// and directory it reads, but opens nothing for writing (the DHCP
	// server's lease journals are checked, not opened): `sealboot check`.
	// Nothing runs; no socket is bound.
	forCheck
)

// build is buildComponents with the rate limit of per-packet log lines.
func build(cfg *config.Config, base *zap.Logger, st *devices.State, pl packetLogging, mode buildMode) (*components, error) {
	c := &components{reg: prometheus.NewRegistry(), reloadRequests: make(chan chan<- reloadResult)}
	// The state taps each logger outermost: rate limits and levels apply
	// to the output only, and it sees every event.
	plogs := newPacketLogs(base, pl, c.reg, st)
	log := withStateTap(base, st)
	c.flushLogs = plogs.flush
	for _, name := range []string{"dhcp", "dhcp.leases", "dhcp.coredhcp", "tftpd", "httpd"} {
		plogs.sup.counter.WithLabelValues(name) // the rate-limited loggers' series, from the start
	}
	c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.metrics = newServerMetrics(c.reg, runtime.Version())
	var configs *configdir.Dir // the keystore tells it when certificates change
	keys, err := keystore.Open(keystore.Options{
		Dir: cfg.KeysDir, Settle: cfg.Keystore.Settle, AllowSmallRSA: cfg.Seal.AllowSmallRSA, PKCS7: cms.ParseCertificates,
		ScanCache: true,
		OnChange: func(serial string) {
			if configs != nil {
				configs.CertificateChanged(serial)
			}
		},
	}, log.Named("keystore"), c.reg)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	c.tasks = append(c.tasks, daemon.Task{Name: "keystore", Component: keys})
	// With keystore.fetch_url, a serial with a config and no certificate
	// gets its certificate from the vendor directory.
	fetcher, err := c.addFetcher(cfg, keys, func(serial string) bool { return configs != nil && configs.Has(serial) }, log.Named("keystore"), c.reg)
	if err != nil {
		return nil, err
	}
	certs := certificatesOnDemand{keys, fetcher}
	app, from, err := loadAppliance(cfg, os.Getenv("CREDENTIALS_DIRECTORY"))
	if err != nil {
		return nil, err
	}
	if app != nil {
		log.Info("appliance key loaded: configs sealed to it are opened in memory when a device needs them",
			zap.String("source", from), zap.String("fingerprint", app.Fingerprint()))
	}
	configs, err = configdir.New(configdirConfig(cfg, app), certs, log.Named("watch"), c.reg)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	deps := fetch.Deps{Configs: configs, Certificates: certs}
	c.tasks = append(c.tasks, daemon.Task{Name: "configs", Component: configs})
	var dhcp *plugins.Server
	if cfg.DHCP.Enabled && mode == forCheck {
		if err := checkDHCP(cfg); err != nil {
			return nil, err
		}
		deps.Bindings = new(plugins.Bindings) // knows no address
	}
	if cfg.DHCP.Enabled && mode == forServe {
		dcfg, err := dhcpConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("dhcp: %w", err)
		}
		// Every line a packet can cause is rate-limited; events of
		// known devices and state changes are not (see plugins/README.md).
		dhcp, err = plugins.New(dcfg, plugins.Deps{Known: knownSerials{keys, configs}, PacketLog: plogs.logger(nil).Named("dhcp")},
			log.Named("dhcp"), c.reg)
		if err != nil {
			return nil, fmt.Errorf("dhcp: %w", err)
		}
		deps.Bindings = dhcp.Bindings()
		c.tasks = append(c.tasks, daemon.Task{Name: "dhcp", Component: dhcp})
		if len(cfg.DHCP.V4.Interfaces) > 0 {
			c.listen = append(c.listen, fmt.Sprintf("dhcpv4 %v", cfg.DHCP.V4.Interfaces))
		}
		if len(cfg.DHCP.V6.Interfaces) > 0 {
			c.listen = append(c.listen, fmt.Sprintf("dhcpv6 %v", cfg.DHCP.V6.Interfaces))
		}
		c.reloads = append(c.reloads, func(cfg *config.Config) error {
			dcfg, err := dhcpConfig(cfg)
			if err != nil {
				return err
			}
			return dhcp.Reload(dcfg)
		})
		c.checks = append(c.checks, func(cfg *config.Config) error {
			dcfg, err := dhcpConfig(cfg)
			if err != nil {
				return err
			}
			return dhcp.Check(dcfg)
		})
	}
	core, err := fetch.New(fetchConfig(cfg), deps)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	c.checks = append(c.checks, func(cfg *config.Config) error { return core.Check(fetchConfig(cfg)) })
	// tftpd's Info lines are the served tftp.fetch events and start-up
	// lines: never rate-limited. Its other lines (refusals, failures,
	// dropped packets) are, per outcome (see tftpd/README.md).
	servedOnly := func(e zapcore.Entry) bool { return e.Level == zapcore.InfoLevel }
	tftpLog := plogs.logger(servedOnly).Named("tftpd")
	tftp, err := tftpd.New(tftpConfig(cfg), core.Transport("tftp", tftpLog, c.reg), tftpLog, c.reg)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	c.tasks = append(c.tasks, daemon.Task{Name: "tftp", Component: tftp})
	c.listen = append(c.listen, "tftp "+strings.Join(cfg.TFTP.Listen, ","))
	c.reloads = append(c.reloads,
		func(*config.Config) error { return keys.Rescan() },
		func(*config.Config) error { return configs.Rescan() },
		func(cfg *config.Config) error { return core.Update(fetchConfig(cfg)) },
		func(cfg *config.Config) error { return tftp.Update(tftpConfig(cfg)) },
	)
	var imgs sztpd.Images // the images directory, when the HTTP server runs
	if len(cfg.HTTP.Listen) > 0 {
		// The same rule for HTTP: served events and start-up lines in
		// full, refusals and failures rate-limited per outcome.
		// Image requests, served ones included, are rate-limited: any
		// address may make them, and a HEAD costs nothing.
		dir, err := c.addHTTP(cfg, core, plogs.logger(servedOnly).Named("httpd"), plogs.logger(nil).Named("httpd"), log.Named("images"))
		if err != nil {
			return nil, err
		}
		imgs = dir
	}
	// And for SZTP (served requests and progress reports in full).
	if err := c.addSZTP(cfg, core, keys, imgs, plogs.logger(servedOnly)); err != nil {
		return nil, err
	}
	known := func(serial string) bool {
		return knownSerials{keys, configs}.Known(serial) || dhcp != nil && dhcp.InInventory(serial)
	}
	warnUnknownProfiles(cfg.Profiles, known, log.Named("dhcp"))
	c.reloads = append(c.reloads, func(cfg *config.Config) error {
		warnUnknownProfiles(cfg.Profiles, known, log.Named("dhcp"))
		return nil
	})
	if st != nil {
		c.addStatus(cfg, st, keys, configs, log)
	}
	if cfg.Metrics.Listen != "" {
		ms := newMetricsServer(cfg.Metrics.Listen, cfg.Metrics.PProf, c.reg, log.Named("metrics"))
		ms.admin = c.admin
		c.tasks = append(c.tasks, daemon.Task{Name: "metrics", Component: ms})
		c.listen = append(c.listen, "metrics "+cfg.Metrics.Listen)
	}
	return c, nil
}

// checkDHCP is what plugins.New and the DHCP server's start would refuse,
// checked without opening the lease journals.
func checkDHCP(cfg *config.Config) error {
	dcfg, err := dhcpConfig(cfg)
	if err == nil {
		err = plugins.CheckConfig(dcfg)
	}
	if err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	return nil
}

// knownSerials implements the DHCP plugin's Known: a serial with a
// certificate or a config file.
type knownSerials struct {
	keys    *keystore.Store
	configs *configdir.Dir
}

func (k knownSerials) Known(serial string) bool {
	return k.keys.HasCertificate(serial) || k.configs.Has(serial)
}

// addHTTP builds the images directory and the HTTP server over the same
// fetch core as TFTP, and returns the directory (SZTP states its hashes).
//
// log is httpd's logger, rate-limited as tftpd's is; imgEvents the one
// for the events of image requests (all rate-limited); imgLog the images
// directory's.
func (c *components) addHTTP(cfg *config.Config, core *fetch.Core, log, imgEvents, imgLog *zap.Logger) (*images.Dir, error) {
	imgs, err := images.New(images.Config{Dir: cfg.ImagesDir, Settle: cfg.Watch.Settle}, imgLog, c.reg)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	tr := core.Transport("http", log, c.reg)
	tr.LogImagesTo(imgEvents)
	srv, err := httpd.New(httpConfig(cfg), tr, imgs, log, c.reg)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	c.tasks = append(c.tasks,
		daemon.Task{Name: "images", Component: imgs},
		daemon.Task{Name: "http", Component: srv},
	)
	scheme := "http "
	if srv.TLS() {
		scheme = "https "
	}
	c.listen = append(c.listen, scheme+strings.Join(cfg.HTTP.Listen, ","))
	c.checks = append(c.checks, func(cfg *config.Config) error { return srv.Check(httpConfig(cfg)) })
	c.reloads = append(c.reloads,
		func(*config.Config) error { return imgs.Rescan() },
		func(cfg *config.Config) error { return srv.Update(httpConfig(cfg)) },
	)
	return imgs, nil
}

// httpConfig maps the configuration file onto the HTTP server's settings.
// A stop waits for requests within shutdown_timeout, as TFTP's does.
func httpConfig(cfg *config.Config) httpd.Config {
	h := cfg.HTTP
	return httpd.Config{
		Listen: h.Listen, TLSCert: h.TLSCert, TLSKey: h.TLSKey,
		HeaderTimeout: h.HeaderTimeout, IdleTimeout: h.IdleTimeout,
		TransferGrace: h.TransferGrace, MinRate: int64(h.MinRate),
		MaxRequests: h.MaxRequests, MaxPerClient: h.MaxPerClient, RetryAfter: h.RetryAfter,
		ShutdownTimeout: cfg.ShutdownTimeout * 4 / 5,
	}
}

// tftpShutdown is how long a stop waits for TFTP transfers: at most
// tftp.shutdown_timeout, and within shutdown_timeout, which bounds the
// whole stop, so that a stalled client still gets its tftp.fetch event and
// the stop stays clean (shutdown_timeout: 3s with the default 5s for TFTP
// waits 2.4s).
func tftpShutdown(cfg *config.Config) time.Duration {
	return min(cfg.TFTP.ShutdownTimeout, cfg.ShutdownTimeout*4/5)
}

// tftpConfig maps the configuration file onto the TFTP server's settings.
func tftpConfig(cfg *config.Config) tftpd.Config {
	t := cfg.TFTP
	return tftpd.Config{
		Listen:       t.Listen,
		MaxTransfers: t.MaxTransfers, MaxPerClient: t.MaxPerClient, QueueWait: queueWait(t.QueueWait),
		Timeout: t.Timeout, Retries: t.Retries, ShutdownTimeout: tftpShutdown(cfg),
		MinRate: int64(t.MinRate), MinRateAfter: t.MinRateAfter, MaxTransferTime: t.MaxTransferTime,
		ReceiveBuffer: int(t.ReceiveBuffer),
	}
}

// fetchConfig maps the configuration file onto the fetch policy every
// transport shares: names, binding check, plaintext policy, cache, sealing.
func fetchConfig(cfg *config.Config) fetch.Config {
	t := cfg.TFTP
	return fetch.Config{
		Names: t.Names, FixedNames: t.FixedNames, BindingCheck: *t.BindingCheck,
		AllowPlaintext: t.AllowPlaintext, PlaintextSerials: t.PlaintextSerials, CacheSize: int64(t.CacheSize),
		Seal: cms.Options{
			Cipher: cms.Cipher(cfg.Seal.Cipher), OAEP: cfg.Seal.OAEP, KDF: cms.KDF(cfg.Seal.KDF),
			DER: cfg.Seal.Format == "der", AllowSmallRSA: cfg.Seal.AllowSmallRSA,
		},
	}
}

// restartKey is a setting that takes effect only when sealboot restarts: it
// changes which sockets are open, where state lives, or what a component
// was built with. A reload keeps its running value.
type restartKey struct {
	key string
	// changed says whether the new value differs in what matters; nil:
	// any difference.
	changed func(running, next any) bool
	// keep is what keeps its running value when key changes, when more
	// than key: settings that belong to key's value (a pool to its
	// interface, all of DHCP to a DHCP server that runs or not).
	keep   []string
	secret bool // its values are not logged
}

// restartOnly lists the settings a reload keeps at their running values,
// sections before the settings inside them. tftp.listen is one too, with
// its start-up fallback (server.keepRunning).
func restartOnly() []restartKey {
	return []restartKey{
		{key: "state_dir"}, {key: "keys_dir"}, {key: "configs_dir"}, {key: "images_dir"},
		// The runner's bound on a stop is set at start.
		{key: "shutdown_timeout"},
		{key: "log.format"},
		{key: "metrics.listen"}, {key: "metrics.pprof"},
		{key: "watch.extension"}, {key: "watch.presealed_extension"}, {key: "watch.appliance_extension"},
		{key: "watch.max_size"}, {key: "watch.settle"},
		// The appliance key is read at start (a credential is there only then).
		{key: "appliance_key"}, {key: "appliance_cert"},
		{key: "keystore.settle"},
		// The keystore checks key sizes when it reads a certificate; the
		// fetch core keeps the same value so that both agree.
		{key: "seal.allow_small_rsa"},
		{key: "http.listen"}, {key: "http.header_timeout"}, {key: "http.idle_timeout"},
		// TLS on or off; a new key pair (a renewed certificate) is loaded.
		{key: "http.tls_cert", changed: emptinessChanged, keep: []string{"http.tls_cert", "http.tls_key"}},
		// tftpd takes these when its listeners start.
		{key: "tftp.shutdown_timeout"}, {key: "tftp.receive_buffer"},
		{key: "dhcp.enabled", keep: []string{"dhcp"}},
		{key: "dhcp.inventory"}, {key: "dhcp.receive_buffer"},
		{key: "dhcp.v4.interfaces", keep: []string{"dhcp.v4"}},
		{key: "dhcp.v6.interfaces", keep: []string{"dhcp.v6"}},
		// The SZTP server's sockets, its slots and its timeouts are set
		// when it starts; the trust anchors directory is watched from
		// start.
		{key: "sztp.listen"}, {key: "sztp.trust_anchors"}, {key: "sztp.max_requests"}, {key: "sztp.request_timeout"},
	}
}

// emptinessChanged says whether one value is empty and the other not.
func emptinessChanged(running, next any) bool { return (running == "") != (next == "") }

// queueWait maps tftp.queue_wait onto tftpd's: 0s in the file means no
// wait at all, which tftpd spells as a negative duration.
func queueWait(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
