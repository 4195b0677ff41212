package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/admin"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// exitUnreachable is status's exit code when no sealboot answers on the
// control socket.
const exitUnreachable = 3

const statusLong = `Status shows where each device is, as the running sealboot serve knows it
from its events: its phase, what DHCP last told it, its fetch attempts. It
reads the control socket (admin.socket). With a serial, it shows that
device's whole record and its story: its recent events, oldest first.

Phases, from the first that applies down:
  served                   its last fetch attempt was served
  waiting_for_config       there is no config file for the serial
  config_invalid           the config file cannot be served
  waiting_for_certificate  the config is there, no usable certificate is
  failing                  config and certificate ready, the last
                           admin.failing_after (3) attempts all refused
  booting                  ready, and the device has shown up (DHCP or a
                           fetch), not served yet
  waiting_for_device       ready; the device has not shown up yet

Exit status: 0 fine; 1 the serial named is failing or unknown to
sealboot; 2 a mistake on the command line; 3 sealboot cannot be reached
(not running, admin.socket off, or no permission: be root or in group
sealboot); 130 Ctrl-C (--watch).`

const statusExamples = `  sealboot status                          # every device
  sealboot status --phase failing,booting  # the ones to look at
  sealboot status --serial 'JN*' --since 1h
  sealboot status SN19842256               # one device's record and story
  sealboot status --json | jq -r '.devices[] | select(.phase == "failing") | .serial'
  sealboot status --watch --phase failing  # refresh every 2s, like watch`

// statusFlags are status's options.
type statusFlags struct {
	phases               []string
	serial, since        string
	socket, config       string
	json, watch          bool
	interval             time.Duration
	args                 []string
	socketSet, configSet bool
}

func newStatusCmd(std stdio) *cobra.Command {
	f := &statusFlags{}
	c := newCommand(&cobra.Command{
		Use:     "status [serial]",
		Short:   "Show where each device is: phase, DHCP, fetch attempts",
		Long:    statusLong,
		Example: statusExamples,
		Args:    cobra.MaximumNArgs(1),
	}, nil)
	fs := c.Flags()
	fs.StringSliceVar(&f.phases, "phase", nil, "only devices in these phases (comma-separated)")
	fs.StringVar(&f.serial, "serial", "", "only serials matching this shell pattern (JN*)")
	fs.StringVar(&f.since, "since", "", "only devices with an event in this last while (10m, 2h) or since a time (RFC 3339)")
	fs.BoolVar(&f.json, "json", false, "print the JSON the API returns (GET /api/v1/devices), for scripts")
	fs.BoolVarP(&f.watch, "watch", "w", false, "redraw every --interval until Ctrl-C, like watch")
	fs.DurationVar(&f.interval, "interval", 2*time.Second, "--watch's refresh interval")
	fs.StringVar(&f.socket, "socket", "", "the control socket (default: as serve places it; see admin.socket)")
	fs.StringVarP(&f.config, "config", "c", "", "serve's configuration file, to find admin.socket there")
	completeWords(c, "phase", devices.Phases...)
	c.RunE = ranE(func(cmd *cobra.Command, args []string) error {
		f.args = args
		f.socketSet, f.configSet = cmd.Flags().Changed("socket"), cmd.Flags().Changed("config")
		return runStatus(cmd.Context(), cmd.CommandPath(), f, std)
	})
	return c
}

func runStatus(ctx context.Context, path string, f *statusFlags, std stdio) error {
	query, err := f.query()
	if err != nil {
		return err
	}
	if f.interval <= 0 {
		return usagef("--interval must be positive")
	}
	sock, err := f.socketPath()
	var u unreachable
	if errors.As(err, &u) {
		fmt.Fprintf(std.err, "%s: %v\n", path, err)
		return exitCode(exitUnreachable)
	}
	if err != nil {
		return err
	}
	cl := newStatusClient(sock)
	if !f.watch {
		code, err := f.show(ctx, cl, query, std.out)
		if err != nil {
			fmt.Fprintf(std.err, "%s: %v\n", path, err)
		}
		return exitCode(code)
	}
	return f.watchLoop(ctx, cl, query, std)
}

// query checks the filters and returns the API path and query to ask.
func (f *statusFlags) query() (string, error) {
	if len(f.args) == 1 && (len(f.phases) > 0 || f.serial != "" || f.since != "") {
		return "", usagef("--phase, --serial and --since filter the table; a serial shows one device")
	}
	if len(f.args) == 1 {
		return "/api/v1/devices/" + url.PathEscape(f.args[0]), nil
	}
	q := url.Values{}
	if len(f.phases) > 0 {
		q.Set("phase", strings.Join(f.phases, ","))
	}
	if f.serial != "" {
		q.Set("serial", f.serial)
	}
	if f.since != "" {
		// The daemon reads "since" against its own clock: send a time.
		t, err := admin.ParseSince(f.since, time.Now())
		if err != nil {
			return "", usageError{err}
		}
		q.Set("since", t.UTC().Format(time.RFC3339))
	}
	if _, err := admin.ParseFilter(q, time.Now()); err != nil {
		return "", usageError{err}
	}
	return "/api/v1/devices?" + q.Encode(), nil
}

// socketPath is where serve's control socket is: --socket, else
// admin.socket from the configuration (--config, SEALBOOT_ADMIN_SOCKET),
// else the first that exists of where serve puts it under systemd, as
// root, and as this user.
func (f *statusFlags) socketPath() (string, error) {
	if f.socketSet {
		return f.socket, nil
	}
	cfg, err := config.Load(config.Source{File: configFile(f.config, os.Getenv), Env: os.Environ()})
	if err != nil {
		return "", err
	}
	return findSocket(cfg)
}

// findSocket is where serve's control socket is with cfg: admin.socket,
// else the first that exists of where serve puts it under systemd, as
// root, and as this user.
func findSocket(cfg *config.Config) (string, error) {
	if cfg.Admin.Socket == config.SocketOff {
		return "", unreachable{errors.New("admin.socket is off in the configuration")}
	}
	if cfg.Admin.Socket != "" {
		return cfg.Admin.Socket, nil
	}
	mine := cfg.SocketPath(os.Getenv, os.Geteuid())
	for _, p := range []string{mine, cfg.SocketPath(os.Getenv, 0), cfg.SocketPath(func(string) string { return "" }, 1)} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return mine, nil
}

// unreachable is an error that ends status with exitUnreachable.
type unreachable struct{ err error }

func (u unreachable) Error() string { return u.err.Error() }
func (u unreachable) Unwrap() error { return u.err }

// show prints one answer and returns the exit code it calls for.
func (f *statusFlags) show(ctx context.Context, cl *statusClient, query string, out io.Writer) (int, error) {
	body, code, err := cl.get(ctx, query)
	switch {
	case err != nil:
		return exitUnreachable, err
	case code == http.StatusNotFound && len(f.args) == 1:
		return exitFailure, fmt.Errorf("no device %s: sealboot has no config or certificate for it and has not seen it in DHCP or a fetch", f.args[0])
	case code != http.StatusOK:
		return exitFailure, fmt.Errorf("sealboot answered %d: %s", code, apiError(body))
	}
	if len(f.args) == 1 {
		return f.showDevice(body, out)
	}
	if f.json {
		_, err = out.Write(indentJSON(body))
		return exitOK, err
	}
	var l devices.List
	if err := json.Unmarshal(body, &l); err != nil {
		return exitFailure, fmt.Errorf("unreadable answer: %w", err)
	}
	printTable(out, l, time.Now())
	return exitOK, nil
}

func (f *statusFlags) showDevice(body []byte, out io.Writer) (int, error) {
	var d devices.Device
	if err := json.Unmarshal(body, &d); err != nil {
		return exitFailure, fmt.Errorf("unreadable answer: %w", err)
	}
	if f.json {
		_, _ = out.Write(indentJSON(body))
	} else {
		printDevice(out, d, time.Now())
	}
	if d.Phase == devices.PhaseFailing {
		return exitFailure, nil
	}
	return exitOK, nil
}

// watchLoop redraws until ctx ends (Ctrl-C: exit 130, quietly).
func (f *statusFlags) watchLoop(ctx context.Context, cl *statusClient, query string, std stdio) error {
	host, _ := os.Hostname()
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		var b strings.Builder
		fmt.Fprintf(&b, "\x1b[H\x1b[2JEvery %s: sealboot status %s    %s: %s\n\n", f.interval, f.describe(), host, time.Now().Format(time.DateTime))
		if _, err := f.show(ctx, cl, query, &b); err != nil && ctx.Err() == nil {
			fmt.Fprintf(&b, "%v\n", err)
		}
		_, _ = io.WriteString(std.out, b.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// describe is the command line's filters, for --watch's header.
func (f *statusFlags) describe() string {
	var parts []string
	if len(f.phases) > 0 {
		parts = append(parts, "--phase "+strings.Join(f.phases, ","))
	}
	if f.serial != "" {
		parts = append(parts, "--serial "+f.serial)
	}
	if f.since != "" {
		parts = append(parts, "--since "+f.since)
	}
	return strings.Join(append(parts, f.args...), " ")
}

// statusClient asks serve's admin API over the control socket.
type statusClient struct {
	socket string
	http   *http.Client
}

func newStatusClient(socket string) *statusClient {
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", socket)
	}}
	return &statusClient{socket: socket, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *statusClient) get(ctx context.Context, path string) ([]byte, int, error) {
	return c.do(ctx, http.MethodGet, path)
}

func (c *statusClient) do(ctx context.Context, method, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://sealboot"+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("cannot reach sealboot on %s (is sealboot serve running, with admin.socket on? root or group sealboot may read it): %w", c.socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, 0, fmt.Errorf("reading sealboot's answer on %s: %w", c.socket, err)
	}
	return body, resp.StatusCode, nil
}

func apiError(body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

// indentJSON indents the API's JSON, keeping its fields' order, with the
// control characters encoding/json leaves as they are (C1, such as a CSI
// a device sent, bidirectional overrides) written as \u escapes: the
// same text, inert on a terminal.
func indentJSON(b []byte) []byte {
	var out bytes.Buffer
	if json.Indent(&out, bytes.TrimSpace(b), "", "  ") != nil {
		return b
	}
	out.WriteByte('\n')
	if !bytes.ContainsFunc(out.Bytes(), func(r rune) bool { return r != '\n' && unsafeRune(r) }) {
		return out.Bytes()
	}
	var esc bytes.Buffer
	for _, r := range out.String() { // only inside strings: Indent adds only '\n' and spaces
		if r != '\n' && unsafeRune(r) {
			fmt.Fprintf(&esc, `\u%04x`, r)
			continue
		}
		esc.WriteRune(r)
	}
	return esc.Bytes()
}
