package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

func cmdCheck(_ context.Context, args []string, std stdio) int {
	fs := newFlags("check", "validate a configuration file (strictly: unknown keys are errors) and exit 0 if it is valid, 1 if not",
		"  sealboot check --config /etc/sealboot/sealboot.yaml\n  SEALBOOT_TFTP_LISTEN=:6969 sealboot check --config sealboot.yaml",
		std)
	file := fs.StringP("config", "c", "", "configuration file (YAML); without it the built-in defaults are checked")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *file == "" && fs.NArg() == 1 {
		*file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(std.err, "sealboot check: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := config.Load(config.Source{File: *file, Env: os.Environ()})
	if err != nil {
		fmt.Fprintf(std.err, "%v\n", err)
		return exitFailure
	}
	for _, w := range hostWarnings(cfg) {
		fmt.Fprintf(std.err, "warning: %s\n", w)
	}
	name := *file
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(std.out, "%s: OK\n", name)
	return exitOK
}

// hostWarnings reports what is valid but will not work on this host, such as
// an interface that does not exist here.
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
