package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const monitoringDir = "../../configs/monitoring"

// needPromtool skips the test when promtool is missing.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; test/deps.sh installs it)")
	}
	return p
}

// metricRef finds the metric names a PromQL expression reads.
var metricRef = regexp.MustCompile(`\bsealboot_[a-z0-9_]+\b`)

// checkMetricsExist fails for every sealboot_* name in exprs that the
// registry of a built server does not have (histograms by their base name).
func checkMetricsExist(t *testing.T, where string, exprs []string) {
	t.Helper()
	have := map[string]bool{}
	for _, mf := range builtRegistry(t) {
		have[mf.GetName()] = true
	}
	for _, e := range exprs {
		for _, name := range metricRef.FindAllString(e, -1) {
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suf); ok && have[b] {
					base = b
				}
			}
			if !have[base] {
				t.Errorf("%s: %s reads %s, which sealboot does not export", where, e, name)
			}
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertRules: the shipped rules pass promtool check rules and promtool
// test rules, the tests fire every alert, and every metric they read exists.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = monitoringDir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
	var rules ruleFile
	var tests ruleTests
	readYAML(t, filepath.Join(monitoringDir, "alerts.yml"), &rules)
	readYAML(t, filepath.Join(monitoringDir, "alerts_test.yml"), &tests)
	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			if r.Alert != "" && !fired[r.Alert] {
				t.Errorf("alert %s: no test case fires it", r.Alert)
			}
		}
	}
	if len(fired) < 8 {
		t.Errorf("only %d alerts fired by the tests", len(fired))
	}
	checkMetricsExist(t, "alerts.yml", exprs)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Datasource any    `json:"datasource"`
		Targets    []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the Grafana dashboard is valid JSON, its panels have
// ids, titles, a data source and queries, every query parses as PromQL
// (promtool, when installed) and reads only metrics sealboot exports.
func TestDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard %q (%q) with %d panels", d.Title, d.UID, len(d.Panels))
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] || p.Title == "" || p.Datasource == nil || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: duplicate id, no title, no data source or no query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	checkMetricsExist(t, "grafana-dashboard.json", exprs)
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Log("promtool not installed: queries not parsed")
		return
	}
	// promtool parses a rule file: one recording rule per query.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		e = strings.ReplaceAll(e, "$instance", ".*")
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %q\n", i, e)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query does not parse: %v\n%s", err, out)
	}
}
