package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/tftpd/sztpd"
)

func newCheckCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a configuration file",
		Long: `Check validates a configuration file (strictly: unknown keys are errors)
and exits 0 if it is valid, 1 if not. SEALBOOT_* environment variables
override the file, as with serve.`,
		Example: `  sealboot check --config /etc/sealboot/sealboot.yaml
  SEALBOOT_TFTP_LISTEN=:6969 sealboot check --config sealboot.yaml`,
	}, nil)
	file := c.Flags().StringP("config", "c", "", "configuration file (YAML); without it the built-in defaults are checked")
	c.RunE = ranE(func(_ *cobra.Command, args []string) error {
		if *file == "" && len(args) == 1 {
			*file = args[0]
		} else if len(args) > 0 {
			return usagef("unexpected arguments %q", args)
		}
		return runCheck(*file, std)
	})
	return c
}

// runCheck prints what is wrong with the configuration as the loader says
// it (file:line: problem), without a prefix: that is check's report.
func runCheck(file string, std stdio) error {
	cfg, err := config.Load(config.Source{File: file, Env: os.Environ()})
	if err != nil {
		fmt.Fprintf(std.err, "%v\n", err)
		return exitCode(exitFailure)
	}
	for _, w := range hostWarnings(cfg) {
		fmt.Fprintf(std.err, "warning: %s\n", w)
	}
	// serve would not start without its appliance key: check reads it
	// (as the user running check; the service reads it as its own).
	if _, _, err := loadAppliance(cfg, os.Getenv("CREDENTIALS_DIRECTORY")); err != nil {
		fmt.Fprintf(std.err, "%v\n", err)
		return exitCode(exitFailure)
	}
	name := file
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(std.out, "%s: OK\n", name)
	return nil
}

// hostWarnings reports what is valid but will not work on this host, such as
// an interface that does not exist here.
func hostWarnings(cfg *config.Config) []string {
	var out []string
	if d := tftpShutdown(cfg); d < cfg.TFTP.ShutdownTimeout {
		out = append(out, fmt.Sprintf("tftp.shutdown_timeout: %s is cut to %s, within shutdown_timeout (%s)", cfg.TFTP.ShutdownTimeout, d, cfg.ShutdownTimeout))
	}
	if len(cfg.SZTP.Listen) > 0 {
		if err := sztpd.CheckFiles(sztpConfig(cfg)); err != nil {
			out = append(out, strings.Split(err.Error(), "\n")...)
		}
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
