package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

// reachable says whether something listens on the socket at path.
func reachable(path string) bool {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

const reloadLong = `Reload asks the running sealboot serve, on its control socket
(admin.socket), to read its configuration file again and apply it, as
SIGHUP does, and waits for the outcome: it exits 0 once the new
configuration is applied, 1 if serve refused it (the running configuration
keeps serving; each problem is printed) or applied only part of it, 3 if no
sealboot answers on the socket. The systemd unit's ExecReload runs it, so
that 'systemctl reload sealboot' fails visibly when the file is broken.`

func newReloadCmd(std stdio) *cobra.Command {
	f := &statusFlags{}
	c := newCommand(&cobra.Command{
		Use:   "reload",
		Short: "Reload the running server's configuration and wait for the outcome",
		Long:  reloadLong,
		Example: `  sealboot reload
  sudo -u sealboot sealboot reload --socket /run/sealboot/admin.sock
  systemctl reload sealboot   # runs sealboot reload`,
		Args: noArgs,
	}, nil)
	c.Flags().StringVar(&f.socket, "socket", "", "the control socket (default: as serve places it; see admin.socket)")
	c.Flags().StringVarP(&f.config, "config", "c", "", "serve's configuration file, to find admin.socket there")
	c.RunE = ranE(func(cmd *cobra.Command, _ []string) error {
		f.socketSet = cmd.Flags().Changed("socket")
		return runReload(cmd.Context(), cmd.CommandPath(), f, std)
	})
	return c
}

func runReload(ctx context.Context, path string, f *statusFlags, std stdio) error {
	sock, err := f.socketPath()
	if err != nil && !f.socketSet {
		// The file does not load; serve refuses it as well, and says so
		// in its log and metrics: find it where it listens without the
		// file (the environment's SEALBOOT_ADMIN_SOCKET or
		// $RUNTIME_DIRECTORY, or the default places).
		if def, derr := config.Load(config.Source{Env: os.Environ()}); derr == nil {
			if s, serr := findSocket(def); serr == nil && reachable(s) {
				sock, err = s, nil
			}
		}
	}
	var u unreachable
	if errors.As(err, &u) {
		fmt.Fprintf(std.err, "%s: %v\n", path, err)
		return exitCode(exitUnreachable)
	}
	if err != nil {
		return err
	}
	cl := newStatusClient(sock)
	cl.http.Timeout = reloadWait
	body, _, err := cl.do(ctx, "POST", "/api/v1/reload")
	if err != nil {
		fmt.Fprintf(std.err, "%s: %v\n", path, err)
		return exitCode(exitUnreachable)
	}
	var res reloadResult
	if err := json.Unmarshal(body, &res); err != nil || res.Outcome == "" {
		return fmt.Errorf("unexpected answer from sealboot on %s: %s", sock, apiError(body))
	}
	switch res.Outcome {
	case "applied":
		msg := "configuration reloaded"
		if len(res.Kept) > 0 {
			msg += "; kept running until a restart: " + strings.Join(res.Kept, ", ")
		}
		fmt.Fprintf(std.out, "%s: %s\n", path, msg)
		return nil
	case "refused":
		fmt.Fprintf(std.err, "%s: reload refused; the running configuration keeps serving:\n", path)
	default:
		fmt.Fprintf(std.err, "%s: reload %s:\n", path, res.Outcome)
	}
	for _, l := range strings.Split(res.Error, "\n") {
		fmt.Fprintf(std.err, "  %s\n", l)
	}
	return exitCode(exitFailure)
}
