package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// repoRoot is the repository, from this package's directory.
const repoRoot = "../.."

// docFiles are the documentation files: every Markdown file, and the
// monitoring kit (rules, dashboard), which name metrics too.
func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".md") || strings.Contains(p, "configs/monitoring/") && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var metricName = regexp.MustCompile(`\bsealboot_[a-z0-9_]*[a-z0-9]`)

// TestDocumentedMetricsExist: every sealboot_* metric named in the docs,
// the READMEs and the monitoring kit is one the server registers (a
// histogram's _bucket, _sum and _count series count as it), and every
// metric it registers is documented somewhere.
func TestDocumentedMetricsExist(t *testing.T) {
	t.Parallel()
	registered := map[string]bool{}
	for _, mf := range builtRegistry(t) {
		name := mf.GetName()
		registered[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				registered[name+s] = true
			}
		}
	}
	documented := map[string]bool{}
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			documented[m] = true
			if !registered[m] && !notAMetric(m) {
				t.Errorf("%s names %s, which sealboot does not register", strings.TrimPrefix(f, repoRoot+"/"), m)
			}
		}
	}
	for name := range registered {
		if strings.HasPrefix(name, "sealboot_") && !documented[name] && !strings.HasSuffix(name, "_bucket") &&
			!strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			t.Errorf("metric %s is documented nowhere (docs/architecture.md lists them)", name)
		}
	}
	if len(documented) < 20 {
		t.Fatalf("only %d metric names found in the docs: is the search broken?", len(documented))
	}
}

// notAMetric says whether a sealboot_ word in the docs is something else:
// a file or a group name, or a prefix written as sealboot_tftp_*.
func notAMetric(s string) bool {
	return slices.Contains([]string{"sealboot_yaml"}, s)
}

var (
	eventLiteral   = regexp.MustCompile(`zap\.String\("event", "([a-z0-9_.]+)"\)`)
	transportEvent = regexp.MustCompile(`\.Transport\("([a-z0-9]+)"`)
	// The DHCP plugin's helper: p.event("dhcp.offer", ...).
	helperEvent = regexp.MustCompile(`\.event\("([a-z0-9_]+\.[a-z0-9_.]+)"`)
	backticked  = regexp.MustCompile("`([a-z0-9_.]+)`")
)

// codeEvents are the event names the code logs: every zap.String("event",
// "..."), the fetch core's "<transport>.fetch" and the DHCP plugin's
// p.event("...").
func codeEvents(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "membench") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasPrefix(p, repoRoot+"/test/") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range eventLiteral.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		for _, m := range transportEvent.FindAllStringSubmatch(string(b), -1) {
			out[m[1]+".fetch"] = true
		}
		for _, m := range helperEvent.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tableEvents are the events an event table in the Markdown file lists: the
// first column of the table whose header starts with "| event |".
func tableEvents(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "| event |"):
			in = true
		case in && strings.HasPrefix(line, "|"):
			cell := strings.SplitN(line, "|", 3)[1]
			for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
				out[m[1]] = true
			}
		default:
			in = false
		}
	}
	return out
}

// TestEventTablesMatchTheCode: the event tables of the README and of
// docs/architecture.md list every event the code logs, and nothing else.
func TestEventTablesMatchTheCode(t *testing.T) {
	t.Parallel()
	code := codeEvents(t)
	if len(code) < 15 {
		t.Fatalf("only %d events found in the code: is the search broken? %v", len(code), code)
	}
	for _, doc := range []string{"README.md", "docs/architecture.md"} {
		listed := tableEvents(t, doc)
		for e := range code {
			if !listed[e] {
				t.Errorf("%s: the event table does not list %s", doc, e)
			}
		}
		for e := range listed {
			if !code[e] {
				t.Errorf("%s: the event table lists %s, which the code does not log", doc, e)
			}
		}
	}
}
