package main

import (
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/plugins/bootstrap"
	"github.com/sealboot/sealboot/plugins/leases"
)

// builtRegistry gathers the registry of a server built as serve builds it
// (DHCP on, on lo; HTTP on; nothing started), plus the DHCP plugin's metrics, which
// it registers when DHCP starts. SZTP is on too, with a generated TLS pair.
func builtRegistry(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.TFTP.Listen = []string{"127.0.0.1:0"}
	cfg.HTTP.Listen = []string{"127.0.0.1:0"}
	id, err := keystore.GenerateDevice("sztp.test", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SZTP.Listen = []string{"127.0.0.1:0"}
	cfg.SZTP.TLSCert, cfg.SZTP.TLSKey = filepath.Join(cfg.StateDir, "sztp.crt"), filepath.Join(cfg.StateDir, "sztp.key")
	if err := errors.Join(os.WriteFile(cfg.SZTP.TLSCert, id.CertPEM, 0o600), os.WriteFile(cfg.SZTP.TLSKey, id.KeyPEM, 0o600)); err != nil {
		t.Fatal(err)
	}
	cfg.DHCP.Enabled = true
	cfg.DHCP.V4.Interfaces = []string{"lo"}
	cfg.DHCP.V4.ServerID = "127.0.0.1"
	cfg.DHCP.V4.Pool = "127.0.0.100-127.0.0.199"
	cfg.DHCP.V4.Netmask = "255.0.0.0"
	cfg.Resolve()
	if err := prepareDirs(&cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	c, err := buildComponents(&cfg, zap.NewNop(), newDeviceState(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	store, err := leases.Open(leases.Options{Path: filepath.Join(cfg.StateDir, "plugin.journal")}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	pool, _ := leases.ParsePool(cfg.DHCP.V4.Pool)
	server := netip.MustParseAddr("127.0.0.1")
	bcfg := bootstrap.Config{Bootfile: "{serial}.enc", V4: &bootstrap.V4{ServerID: server, TFTPServer: server,
		Direct: &bootstrap.Subnet{Pool: pool, Netmask: []byte{255, 0, 0, 0}, LeaseTime: time.Hour}}}
	if _, err := bootstrap.New(bcfg, bootstrap.Deps{V4: store}, zap.NewNop(), c.reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestMetricsHelpAndSeries: every sealboot_* metric's HELP is a sentence
// (capital first, period last), and every metric the code names has its
// series from the start, labelled ones included (a vector with no series
// is not gathered at all).
func TestMetricsHelpAndSeries(t *testing.T) {
	t.Parallel()
	sentence := regexp.MustCompile(`^[A-Z][^\n]*\.$`)
	gathered := map[string]bool{}
	for _, mf := range builtRegistry(t) {
		name := mf.GetName()
		if !strings.HasPrefix(name, "sealboot_") {
			continue
		}
		gathered[name] = len(mf.GetMetric()) > 0
		if !sentence.MatchString(mf.GetHelp()) {
			t.Errorf("%s: HELP %q is not a sentence (capital first, period last)", name, mf.GetHelp())
		}
	}
	named := metricNamesInCode(t)
	for _, name := range named {
		if !gathered[name] {
			t.Errorf("%s: named in the code, no series at start", name)
		}
	}
	if len(named) < 20 {
		t.Fatalf("only %d metric names found in the code", len(named))
	}
}

// metricNamesInCode lists the sealboot_* names the module's code gives
// metrics (Name: "…" and NewDesc("…")), tests and benchmarks aside.
func metricNamesInCode(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(sealboot_[a-z0-9_]+)"`)
	seen := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "/test/") {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range re.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(seen))
}
