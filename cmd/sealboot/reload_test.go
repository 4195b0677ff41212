package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/keystore"
)

// runningYAML is a server with DHCPv4 on and tftp.binding_check unset: on,
// because DHCP runs in this process.
const runningYAML = `state_dir: /srv/sb
shutdown_timeout: 10s
keystore:
  fetch_url: "https://user:pw@certs.example/{serial}.pem"
tftp:
  listen: ["127.0.0.1:6969"]
  timeout: 2s
dhcp:
  enabled: true
  v4:
    interfaces: [eth1]
    server_id: 192.0.2.1
    pool: 192.0.2.100-192.0.2.199
    netmask: 255.255.255.0
`

// reloadHarness is a server that has started on running, whose components
// record the configuration a reload applies.
type reloadHarness struct {
	s       *server
	logs    *observer.ObservedLogs
	applied []*config.Config
}

func newReloadHarness(t *testing.T, running, next string) *reloadHarness {
	t.Helper()
	cfg, err := config.Load(config.Source{Data: []byte(running)})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	h := &reloadHarness{logs: logs}
	comps := &components{metrics: newServerMetrics(prometheus.NewRegistry(), runtime.Version()), reloads: []func(*config.Config) error{func(c *config.Config) error {
		h.applied = append(h.applied, c)
		return nil
	}}}
	h.s = &server{log: log, level: zap.NewAtomicLevel(), src: config.Source{Data: []byte(next)},
		notify: daemon.Notifier{Log: log}, started: cfg, current: cfg, comps: comps,
		listenInFile: slices.Clone(cfg.TFTP.Listen)}
	return h
}

// restartLines returns the keys the reload said it kept, with their running
// and new values as logged.
func (h *reloadHarness) restartLines() map[string][2]any {
	out := map[string][2]any{}
	for _, e := range h.logs.FilterMessage("changed setting takes effect at the next restart; keeping the running value").All() {
		f := e.ContextMap()
		out[f["key"].(string)] = [2]any{f["running"], f["new"]}
	}
	return out
}

// TestReloadKeepsRunningValues: a reload applies what can change while
// sealboot runs and keeps the running value of what cannot, saying so; a
// value derived from others (tftp.binding_check's default, keys_dir) comes
// from the values in effect, never from a changed setting that is not
// applied (issue 16 item 2).
func TestReloadKeepsRunningValues(t *testing.T) {
	t.Parallel()
	edit := func(pairs ...string) string { return strings.NewReplacer(pairs...).Replace(runningYAML) }
	tests := []struct {
		name      string
		running   string // default runningYAML
		next      string
		kept      []string          // kept as the applied event lists it
		logged    map[string]string // key → new value, as logged ("" for secrets)
		sections  []string          // sections said to keep serving
		check     func(t *testing.T, run, got *config.Config)
		refused   string // substring of the refusal's error
		noRestart bool   // nothing kept
	}{
		{
			name: "empty file", next: "",
			kept:   []string{"state_dir", "keys_dir", "configs_dir", "images_dir", "dhcp", "tftp.listen"},
			logged: map[string]string{"dhcp.enabled": "false", "state_dir": "/var/lib/sealboot", "keys_dir": "/var/lib/sealboot/keys", "tftp.listen": "[:69]", "dhcp.v4.interfaces": "[]"},
			check: func(t *testing.T, _, got *config.Config) {
				if got.TFTP.Timeout != 5*time.Second {
					t.Errorf("tftp.timeout, hot, not applied: %v", got.TFTP.Timeout)
				}
			},
			sections: []string{"dhcp"},
		},
		{
			name: "dhcp.enabled turned off", next: edit("enabled: true", "enabled: false"),
			kept: []string{"dhcp"}, logged: map[string]string{"dhcp.enabled": "false"}, sections: []string{"dhcp"},
		},
		{
			name: "DHCPv4 interfaces changed with the pool", next: edit("[eth1]", "[eth2]", "192.0.2.100-192.0.2.199", "192.0.2.10-192.0.2.20") + "  serve_unknown: true\n",
			kept: []string{"dhcp.v4"}, logged: map[string]string{"dhcp.v4.interfaces": "[eth2]"}, sections: []string{"dhcp.v4"},
			check: func(t *testing.T, _, got *config.Config) {
				if !got.DHCP.ServeUnknown {
					t.Error("dhcp.serve_unknown, outside the kept section, was not applied")
				}
			},
		},
		{
			name: "state_dir moved", next: edit("/srv/sb", "/srv/other"),
			kept:   []string{"state_dir", "keys_dir", "configs_dir", "images_dir"},
			logged: map[string]string{"state_dir": "/srv/other", "keys_dir": "/srv/other/keys", "configs_dir": "/srv/other/configs", "images_dir": "/srv/other/images"},
		},
		{
			name: "explicit binding_check off is applied", next: edit("timeout: 2s", "timeout: 2s\n  binding_check: false"), noRestart: true,
			check: func(t *testing.T, _, got *config.Config) {
				if *got.TFTP.BindingCheck {
					t.Error("binding_check: false in the file was not applied")
				}
			},
		},
		{
			name: "hot settings apply", next: edit("timeout: 2s", "timeout: 2s\n  max_transfers: 10\n  plaintext_serials: [SN1]\n  allow_plaintext: true"), noRestart: true,
			check: func(t *testing.T, _, got *config.Config) {
				if got.TFTP.MaxTransfers != 10 || !slices.Equal(got.TFTP.PlaintextSerials, []string{"SN1"}) || !got.TFTP.AllowPlaintext {
					t.Errorf("tftp settings not applied: %+v", got.TFTP)
				}
			},
		},
		{
			name: "settings components take at start", next: runningYAML + "seal:\n  allow_small_rsa: true\nmetrics:\n  pprof: true\n",
			kept:   []string{"metrics.pprof", "seal.allow_small_rsa"},
			logged: map[string]string{"seal.allow_small_rsa": "true", "metrics.pprof": "true"},
			check: func(t *testing.T, _, got *config.Config) {
				if fetchConfig(got).Seal.AllowSmallRSA {
					t.Error("the TFTP server took seal.allow_small_rsa while the keystore keeps the running value")
				}
			},
		},
		{
			// The vendor directory is applied on reload, and its URL,
			// which may hold a credential, logged nowhere.
			name: "fetch_url applied, not logged", next: edit("user:pw@certs.example", "user:new@certs.example"), noRestart: true,
			check: func(t *testing.T, _, got *config.Config) {
				if got.Keystore.FetchURL != "https://user:new@certs.example/{serial}.pem" {
					t.Errorf("keystore.fetch_url not applied: %q", got.Keystore.FetchURL)
				}
			},
		},
		{
			name:    "binding_check needs the DHCP server that is not running",
			running: "state_dir: /srv/sb\ntftp:\n  listen: [\"127.0.0.1:6969\"]\n",
			next:    edit("timeout: 2s", "timeout: 2s\n  binding_check: true"),
			refused: "tftp.binding_check: needs dhcp.enabled",
		},
		{
			name:    "an http boot profile needs the HTTP server that is not running",
			next:    runningYAML + "http:\n  listen: [\"127.0.0.1:8080\"]\nprofiles:\n  - name: ex\n    vendor: juniper\n    transport: http\n",
			refused: "(http.listen): profiles[0] (ex): transport: http needs the built-in HTTP server",
		},
		{
			name: "a file sealboot check refuses is refused", next: edit("    interfaces: [eth1]\n", ""),
			refused: "dhcp.enabled: true, but neither",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			running := tt.running
			if running == "" {
				running = runningYAML
			}
			h := newReloadHarness(t, running, tt.next)
			h.s.reload()
			if tt.refused != "" {
				checkRefused(t, h, tt.refused)
				return
			}
			if len(h.applied) != 1 {
				t.Fatalf("applied %d times; log: %v", len(h.applied), h.logs.All())
			}
			got, run := h.applied[0], h.s.started
			checkKeptRunning(t, run, got)
			ev := h.logs.FilterMessage("configuration reloaded").All()
			if len(ev) != 1 {
				t.Fatalf("applied events: %v", ev)
			}
			if kept := fmt.Sprint(ev[0].ContextMap()["kept"]); kept != fmt.Sprint(tt.kept) && !(tt.noRestart && kept == "[]") {
				t.Errorf("kept %s, want %v", kept, tt.kept)
			}
			lines := h.restartLines()
			if tt.noRestart && len(lines) > 0 {
				t.Errorf("restart lines for a reload that changes none: %v", lines)
			}
			for key, want := range tt.logged {
				l, ok := lines[key]
				switch {
				case !ok:
					t.Errorf("no restart line for %s; got %v", key, lines)
				case want == "" && (l[0] != nil || l[1] != nil):
					t.Errorf("%s: secret values logged: %v", key, l)
				case want != "" && l[1] != want:
					t.Errorf("%s: new value logged %v, want %q", key, l[1], want)
				}
			}
			var sections []string
			for _, e := range h.logs.FilterMessageSnippet("keeps serving as it is until the next restart").All() {
				sections = append(sections, e.ContextMap()["section"].(string))
			}
			if !slices.Equal(sections, tt.sections) {
				t.Errorf("sections kept %v, want %v", sections, tt.sections)
			}
			for _, sec := range tt.sections {
				a, _ := run.Value(sec)
				b, _ := got.Value(sec)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s half applied:\nrunning %+v\nnow     %+v", sec, a, b)
				}
			}
			if tt.check != nil {
				tt.check(t, run, got)
			}
		})
	}
}

// checkKeptRunning checks what every reload must keep: the settings that
// change only on restart, and the binding check unless the file sets it.
func checkKeptRunning(t *testing.T, run, got *config.Config) {
	t.Helper()
	for _, r := range restartOnly() {
		a, _ := run.Value(r.key)
		b, _ := got.Value(r.key)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s applied: running %v, now %v", r.key, a, b)
		}
	}
	if !slices.Equal(got.TFTP.Listen, run.TFTP.Listen) {
		t.Errorf("tftp.listen applied: %v", got.TFTP.Listen)
	}
	if got.TFTP.BindingCheck == nil {
		t.Fatal("binding_check not resolved")
	}
}

func checkRefused(t *testing.T, h *reloadHarness, want string) {
	t.Helper()
	if len(h.applied) != 0 {
		t.Fatalf("applied: %+v", h.applied[0])
	}
	ev := h.logs.FilterMessageSnippet("reload refused").All()
	if len(ev) != 1 || !strings.Contains(fmt.Sprint(ev[0].ContextMap()["error"]), want) {
		t.Fatalf("refusal %v, want an error with %q", ev, want)
	}
}

// TestBindingCheckFollowsTheRunningDHCP: the binding check's default
// follows DHCP as it runs, whatever the file says about dhcp.enabled.
func TestBindingCheckFollowsTheRunningDHCP(t *testing.T) {
	t.Parallel()
	off := "state_dir: /srv/sb\ntftp:\n  listen: [\"127.0.0.1:6969\"]\n"
	for _, tt := range []struct {
		name, running, next string
		want                bool
	}{
		{"DHCP runs, file turns it off", runningYAML, strings.Replace(runningYAML, "enabled: true", "enabled: false", 1), true},
		{"DHCP runs, empty file", runningYAML, "", true},
		{"DHCP off, file turns it on", off, runningYAML, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newReloadHarness(t, tt.running, tt.next)
			h.s.reload()
			if len(h.applied) != 1 {
				t.Fatalf("not applied: %v", h.logs.All())
			}
			if got := fetchConfig(h.applied[0]).BindingCheck; got != tt.want {
				t.Fatalf("binding check %v after the reload, want %v", got, tt.want)
			}
		})
	}
}

// TestRestartOnlyKeysExist: every restart-only key and section names a
// configuration key.
func TestRestartOnlyKeysExist(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	for _, r := range restartOnly() {
		for _, key := range append([]string{r.key}, r.keep...) {
			if _, err := cfg.Value(key); err != nil {
				t.Error(err)
			}
		}
		if r.keep != nil && !slices.Contains(r.keep, r.key) && !slices.ContainsFunc(r.keep, func(k string) bool { return strings.HasPrefix(r.key, k+".") }) {
			t.Errorf("%s keeps %v, which neither is nor holds it", r.key, r.keep)
		}
	}
}

// TestReloadKeepsHTTPAsItRuns: HTTP's addresses and HTTPS on or off change
// on restart, the certificate and key stay a pair, and what DHCP tells
// devices of the HTTP server (scheme, port) follows the server as it runs;
// a renewed key pair is applied.
func TestReloadKeepsHTTPAsItRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pair := func(name string) (cert, key string) {
		id, err := keystore.GenerateDevice(name, keystore.P256)
		if err != nil {
			t.Fatal(err)
		}
		cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := errors.Join(os.WriteFile(cert, id.CertPEM, 0o600), os.WriteFile(key, id.KeyPEM, 0o600)); err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	httpYAML := func(port int, cert, key string) string {
		y := fmt.Sprintf("http:\n  listen: [\"127.0.0.1:%d\"]\n", port)
		if cert != "" {
			y += fmt.Sprintf("  tls_cert: %s\n  tls_key: %s\n", cert, key)
		}
		return runningYAML + y
	}
	c1, k1 := pair("old")
	c2, k2 := pair("renewed")
	for _, tt := range []struct {
		name, next         string
		wantCert, wantKept string
	}{
		{"TLS turned off", httpYAML(8443, "", ""), c1, "[http.tls_cert http.tls_key]"},
		{"moved to another port", httpYAML(9443, c1, k1), c1, "[http.listen]"},
		{"renewed pair", httpYAML(8443, c2, k2), c2, "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newReloadHarness(t, httpYAML(8443, c1, k1), tt.next)
			h.s.reload()
			if len(h.applied) != 1 {
				t.Fatalf("not applied: %v", h.logs.All())
			}
			got := h.applied[0]
			if got.HTTP.TLSCert != tt.wantCert || (got.HTTP.TLSCert == c1) != (got.HTTP.TLSKey == k1) {
				t.Errorf("tls_cert %s, tls_key %s; want the pair of %s", got.HTTP.TLSCert, got.HTTP.TLSKey, tt.wantCert)
			}
			ev := h.logs.FilterMessage("configuration reloaded").All()
			if kept := fmt.Sprint(ev[0].ContextMap()["kept"]); kept != tt.wantKept {
				t.Errorf("kept %s, want %s", kept, tt.wantKept)
			}
			dcfg, err := dhcpConfig(got)
			if err != nil {
				t.Fatal(err)
			}
			if dcfg.HTTP.Scheme != "https" || dcfg.HTTP.Port != 8443 {
				t.Errorf("DHCP would point devices at %s on port %d; HTTPS runs on 8443", dcfg.HTTP.Scheme, dcfg.HTTP.Port)
			}
		})
	}
}
