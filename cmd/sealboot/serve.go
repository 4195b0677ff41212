package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

const serveExamples = `  sealboot serve                                  # built-in defaults (configs/reference.yaml)
  sealboot serve --config /etc/sealboot/sealboot.yaml
  sealboot serve --state-dir /tmp/sb --tftp-listen 127.0.0.1:6969 --log-format console
  SEALBOOT_LOG_LEVEL=debug sealboot serve -c sealboot.yaml`

// fallbackTFTPListen is where TFTP goes when the built-in default :69 cannot
// be bound for lack of privilege.
const fallbackTFTPListen = ":6969"

func newServeCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "serve",
		Short: "Run the DHCP and TFTP bootstrap server",
		Long: `Serve runs the DHCP and TFTP bootstrap server until SIGINT or SIGTERM;
SIGHUP reloads. Flags override the configuration file's keys, and SEALBOOT_*
environment variables (SEALBOOT_ + the key in upper case, dots as
underscores) override the file too.`,
		Example: serveExamples,
		Args:    noArgs,
	}, nil)
	file := c.Flags().StringP("config", "c", "", "configuration file (YAML); default: $CONFIGURATION_DIRECTORY/sealboot.yaml when set, else the built-in defaults")
	keys := serveFlags(c.Flags())
	c.RunE = ranE(func(cmd *cobra.Command, _ []string) error {
		return runServe(cmd.Context(), configFile(*file, os.Getenv), keys, std)
	})
	return c
}

func runServe(ctx context.Context, file string, keys map[string]*pflag.Flag, std stdio) error {
	src := config.Source{File: file, Env: os.Environ(), Flags: keys}
	cfg, err := config.Load(src)
	if err != nil {
		return err
	}
	out := zapcore.Lock(zapcore.AddSync(std.err))
	log, level, err := newLogger(cfg.Log.Level, cfg.Log.Format, out, isStderrTerminal(std))
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sig := std.sig
	if sig == nil { // in process, in tests
		sig = catchSignals()
		defer sig.release()
	}
	st := newDeviceState(cfg) // buildComponents taps the components' loggers into it
	s := &server{log: log, level: level, src: src, notify: daemon.Notifier{Log: log}, hups: sig.hangups(), devices: st}
	if err := s.serve(ctx, cfg, file == "" && !keys["tftp.listen"].Changed && os.Getenv(config.EnvName("tftp.listen")) == ""); err != nil {
		log.Error("sealboot stopped", zap.Error(err))
		return err
	}
	log.Info("sealboot stopped")
	return nil
}

// serveFlags defines the flags that override configuration keys and returns
// them by key.
func serveFlags(fs *pflag.FlagSet) map[string]*pflag.Flag {
	fs.String("state-dir", "", "state directory (state_dir)")
	fs.String("keys-dir", "", "device certificate directory (keys_dir)")
	fs.String("configs-dir", "", "plaintext configs directory (configs_dir)")
	fs.StringSlice("tftp-listen", nil, "TFTP listen addresses, comma-separated (tftp.listen)")
	fs.String("metrics-listen", "", "Prometheus endpoint host:port (metrics.listen)")
	fs.String("log-level", "", "debug, info, warn or error (log.level)")
	fs.String("log-format", "", "json or console (log.format)")
	return map[string]*pflag.Flag{
		"state_dir":      fs.Lookup("state-dir"),
		"keys_dir":       fs.Lookup("keys-dir"),
		"configs_dir":    fs.Lookup("configs-dir"),
		"tftp.listen":    fs.Lookup("tftp-listen"),
		"metrics.listen": fs.Lookup("metrics-listen"),
		"log.level":      fs.Lookup("log-level"),
		"log.format":     fs.Lookup("log-format"),
	}
}

func isStderrTerminal(std stdio) bool {
	f, ok := std.err.(*os.File)
	return ok && isTerminal(f)
}

// server is a running `sealboot serve`.
type server struct {
	log    *zap.Logger
	level  zap.AtomicLevel
	src    config.Source
	notify daemon.Notifier
	hups   <-chan struct{} // SIGHUP, received since start

	started *config.Config // what the listeners were built from
	// listenInFile is tftp.listen as the file had it at start, before any
	// fallback to a high port.
	listenInFile []string
	current      *config.Config // the last configuration applied
	comps        *components
	devices      *devices.State // what the events say of each device
}

func (s *server) serve(ctx context.Context, cfg *config.Config, defaultListen bool) error {
	if s.stopRequested(ctx) {
		return nil
	}
	s.listenInFile = slices.Clone(cfg.TFTP.Listen)
	if defaultListen {
		cfg.TFTP.Listen = s.tftpListenFallback(cfg.TFTP.Listen)
	}
	if err := prepareDirs(cfg, s.log); err != nil {
		return err
	}
	if d := tftpShutdown(cfg); d < cfg.TFTP.ShutdownTimeout {
		s.log.Warn("tftp.shutdown_timeout is cut to fit within shutdown_timeout, which bounds the whole stop",
			zap.Duration("tftp.shutdown_timeout", cfg.TFTP.ShutdownTimeout), zap.Duration("shutdown_timeout", cfg.ShutdownTimeout), zap.Duration("used", d))
	}
	comps, err := buildComponents(cfg, s.log, s.devices)
	if err != nil {
		return err
	}
	defer comps.flushLogs()
	// The first scans of the keys and configs directories leave garbage in
	// proportion to their size (100,000 files: ~100 MiB); hand it back
	// before serving instead of carrying it as heap headroom.
	debug.FreeOSMemory()
	s.started, s.current, s.comps = cfg, cfg, comps
	if s.stopRequested(ctx) {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.notify.Watchdog(ctx)
	ready := make(chan struct{})
	go s.reloadOnHUP(ctx, ready)
	s.log.Info("sealboot starting", zap.String("version", version), zap.Strings("tasks", comps.names()),
		zap.String("keys_dir", cfg.KeysDir), zap.String("configs_dir", cfg.ConfigsDir), zap.String("state_dir", cfg.StateDir))
	r := &daemon.Runner{
		Log:             s.log,
		ShutdownTimeout: cfg.ShutdownTimeout,
		OnReady: func() {
			s.log.Info("sealboot ready", zap.Strings("listen", comps.listening()))
			s.notify.Ready("serving")
			close(ready)
		},
		OnStopping: func() {
			s.log.Info("sealboot stopping")
			s.notify.Stopping()
		},
	}
	return r.Run(ctx, comps.tasks)
}

// stopRequested says, and logs, whether a SIGINT or SIGTERM came while
// sealboot was starting: it then stops before serving.
func (s *server) stopRequested(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	s.log.Info("stop requested during start-up; stopping", zap.String("signal", stopCause(ctx)))
	return true
}

// stopCause names the signal that cancelled ctx.
func stopCause(ctx context.Context) string {
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) {
		return signalName(sig.sig)
	}
	return context.Cause(ctx).Error()
}

// tftpListenFallback moves the built-in default TFTP address to a high port
// when this process may not bind port 69 (not root, no CAP_NET_BIND_SERVICE).
func (s *server) tftpListenFallback(listen []string) []string {
	if len(listen) != 1 || listen[0] != ":69" {
		return listen
	}
	conn, err := net.ListenPacket("udp", ":69")
	if err == nil {
		_ = conn.Close()
		return listen
	}
	if !errors.Is(err, os.ErrPermission) {
		return listen // e.g. in use: let the TFTP task report it
	}
	s.log.Warn("not allowed to bind TFTP port 69; using a high port instead (set tftp.listen, or grant CAP_NET_BIND_SERVICE)",
		zap.String("listen", fallbackTFTPListen), zap.Error(err))
	return []string{fallbackTFTPListen}
}

// prepareDirs creates the directories of madeDirs that are missing, each
// with its mode whatever the umask (the unit's UMask=0077 would make the
// keys directory 0700).
func prepareDirs(cfg *config.Config, log *zap.Logger) error {
	for _, d := range madeDirs(cfg) {
		if _, err := os.Stat(*d.path); err == nil {
			continue
		}
		if err := os.MkdirAll(*d.path, d.mode); err != nil {
			return fmt.Errorf("%s: %w", d.key, err)
		}
		if err := os.Chmod(*d.path, d.mode); err != nil {
			return fmt.Errorf("%s: %w", d.key, err)
		}
		log.Info("created directory", zap.String("key", d.key), zap.String("path", *d.path))
	}
	return nil
}

// configFile is the configuration file a command reads: the one given,
// else sealboot.yaml in $CONFIGURATION_DIRECTORY (systemd's
// ConfigurationDirectory=) when that is set and the file exists there,
// else none (the built-in defaults).
func configFile(given string, getenv func(string) string) string {
	if given != "" {
		return given
	}
	dir, _, _ := strings.Cut(getenv("CONFIGURATION_DIRECTORY"), ":")
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "sealboot.yaml")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
