package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

func newCheckCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a configuration file, and everything serve reads",
		Long: `Check validates a configuration file (strictly: unknown keys are errors)
and everything serve would read at start: the directories (made if missing:
then their parent must be writable), the inventory, the TLS, SZTP owner,
trust anchor and password files, the profiles' scripts, the device
certificates and configs. It builds every component as serve does, without
binding a socket or writing a file. It exits 0 if serve would start, 1 if
not, with one line per problem, each starting with the file's name (and
the key's line when the file sets it).

Run it as the user serve runs as (systemd's ExecStartPre does): that user's
permissions are the ones checked. As root, --user NAME checks the
permission bits for that user as well. SEALBOOT_* environment variables
override the file, as with serve; so do $STATE_DIRECTORY and
$CONFIGURATION_DIRECTORY, as systemd sets them.`,
		Example: `  sealboot check --config /etc/sealboot/sealboot.yaml
  sealboot check --user sealboot /etc/sealboot/sealboot.yaml
  SEALBOOT_TFTP_LISTEN=:6969 sealboot check --config sealboot.yaml`,
	}, nil)
	file := c.Flags().StringP("config", "c", "", "configuration file (YAML); default: $CONFIGURATION_DIRECTORY/sealboot.yaml when set, else the built-in defaults")
	asUser := c.Flags().String("user", "", "also check that this user (serve's, e.g. sealboot) may read and write what serve needs")
	c.RunE = ranE(func(_ *cobra.Command, args []string) error {
		if *file == "" && len(args) == 1 {
			*file = args[0]
		} else if len(args) > 0 {
			return usagef("unexpected arguments %q", args)
		}
		return runCheck(configFile(*file, os.Getenv), *asUser, std)
	})
	return c
}

// runCheck prints what is wrong with the configuration, one problem a line,
// each starting with the file's name, without a prefix: that is check's
// report.
func runCheck(file, asUser string, std stdio) error {
	src := config.Source{File: file, Env: os.Environ()}
	cfg, err := config.Load(src)
	if err != nil {
		printLines(std.err, err)
		return exitCode(exitFailure)
	}
	var users []accessor
	users = append(users, processAccess())
	if asUser != "" {
		u, err := userAccess(asUser)
		if err != nil {
			return usagef("--user: %v", err)
		}
		users = append(users, u)
	}
	warnings, err := checkServe(cfg, users, file == "" && os.Getenv(config.EnvName("tftp.listen")) == "")
	if err != nil {
		printLines(std.err, src.Annotate(err))
		return exitCode(exitFailure)
	}
	for _, w := range append(hostWarnings(cfg), warnings...) {
		// Warnings name files anyone with write access to the
		// directories dropped: see inertText.
		fmt.Fprintf(std.err, "%s: warning: %s\n", src.Name(), inertText(w))
	}
	name := file
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(std.out, "%s: OK\n", name)
	return nil
}

// printLines writes err one line at a time.
func printLines(w io.Writer, err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, l)
	}
}

// checkServe reports every reason serve would refuse cfg that Load does not
// see: ports it may not bind, the directories and files for each user
// (paths and permissions),
// then, when those are right, what building the components finds (the
// same constructors serve calls, in forCheck mode). A directory serve would
// make is built over an empty one.
func checkServe(cfg *config.Config, users []accessor, defaultTFTP bool) (warnings []string, err error) {
	ports := checkPorts(cfg, defaultTFTP)
	var errs []error
	for _, u := range users {
		errs = append(errs, checkPaths(cfg, u)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(append(ports, errs...)...)
	}
	built := *cfg
	cleanup, err := standInDirs(&built)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	core, logs := observer.New(zapcore.WarnLevel)
	c, err := build(&built, zap.New(core), nil, defaultPacketLogging(), forCheck)
	if err != nil {
		return nil, errors.Join(append(ports, err)...)
	}
	c.flushLogs()
	return buildWarnings(logs.All()), errors.Join(ports...)
}

// buildWarnings are what building the components logged that an operator
// should see before serve runs: every warning (a configs directory open
// to other users, a certificate or config file that gives nothing, such
// as a symbolic link), one line each.
func buildWarnings(entries []observer.LoggedEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Level < zapcore.WarnLevel {
			continue
		}
		f, w := e.ContextMap(), e.Message
		for _, k := range []string{"dir", "file", "mode", "reason", "error"} {
			if v, ok := f[k]; ok {
				w += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		out = append(out, w)
	}
	return out
}

// standInDirs points each directory serve would make (missing now) at an
// empty temporary one, so that the components can be built; cleanup removes
// them.
func standInDirs(cfg *config.Config) (cleanup func(), err error) {
	var made []string
	cleanup = func() {
		for _, d := range made {
			_ = os.RemoveAll(d)
		}
	}
	for _, d := range madeDirs(cfg) {
		if _, err := os.Stat(*d.path); err == nil {
			continue
		}
		tmp, err := os.MkdirTemp("", "sealboot-check-")
		if err != nil {
			return cleanup, err
		}
		made = append(made, tmp)
		*d.path = tmp
	}
	return cleanup, nil
}

// hostWarnings reports what is valid but will not work on this host as
// one might expect.
func hostWarnings(cfg *config.Config) []string {
	var out []string
	if d := tftpShutdown(cfg); d < cfg.TFTP.ShutdownTimeout {
		out = append(out, fmt.Sprintf("tftp.shutdown_timeout: %s is cut to %s, within shutdown_timeout (%s)", cfg.TFTP.ShutdownTimeout, d, cfg.ShutdownTimeout))
	}
	if len(cfg.HTTP.Listen) == 0 && cfg.HTTP.TLSCert != "" {
		out = append(out, "http.tls_cert: set, but http.listen is empty: no HTTP server runs")
	}
	if !cfg.DHCP.Enabled {
		return out
	}
	for key, names := range map[string][]string{"dhcp.v4.interfaces": cfg.DHCP.V4.Interfaces, "dhcp.v6.interfaces": cfg.DHCP.V6.Interfaces} {
		for _, n := range names {
			if _, err := net.InterfaceByName(n); err != nil {
				out = append(out, fmt.Sprintf("%s: no interface %q on this host", key, n))
			}
		}
	}
	return out
}
