package config

import (
	"strings"
	"testing"
)

// TestStateDirectory: systemd's $STATE_DIRECTORY is state_dir's default
// (the first of a list); the file and SEALBOOT_STATE_DIR win over it.
func TestStateDirectory(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unit sets it", "", []string{"STATE_DIRECTORY=/var/lib/sealboot:/var/lib/other"}, "/var/lib/sealboot"},
		{"file wins", "state_dir: /srv/sb\n", []string{"STATE_DIRECTORY=/var/lib/sealboot"}, "/srv/sb"},
		{"environment wins", "", []string{"STATE_DIRECTORY=/var/lib/sealboot", "SEALBOOT_STATE_DIR=/srv/env"}, "/srv/env"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Source{Data: []byte(tt.yaml), Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.StateDir != tt.want || cfg.KeysDir != tt.want+"/keys" {
				t.Errorf("state_dir %q, keys_dir %q; want %q", cfg.StateDir, cfg.KeysDir, tt.want)
			}
		})
	}
}

// TestProblemsOnTheirLines: every problem is a line of its own with the
// file's name and the line of the key it is about; YAML syntax errors
// carry the line the YAML parser means; every unit-less duration is
// reported, not only the first.
func TestProblemsOnTheirLines(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"flow sequence not closed", "log:\n  level: info\ntftp:\n  listen: [\":69\"\n  timeout: 1s\n",
			[]string{`config:4: YAML syntax: did not find expected ',' or ']'`}},
		{"bad indentation", "tftp:\n  timeout: 1s\n   retries: 3\n",
			[]string{"config:3: YAML syntax: mapping values are not allowed in this context"}},
		{"list item in a mapping", "tftp:\n  names:\n    - a\n  - b\n",
			[]string{"config:4: YAML syntax: did not find expected key"}},
		{"every unit-less duration", "shutdown_timeout: 5\ntftp:\n  timeout: 2\n  queue_wait: 0\nhttp:\n  idle_timeout: 1.5\n",
			[]string{"config:1: shutdown_timeout: 5 has no unit", "config:3: tftp.timeout: 2 has no unit", "config:6: http.idle_timeout: 1.5 has no unit"}},
		{"no cascade to the directories under state_dir", "state_dir: \"/srv/a\\0b\"\n",
			[]string{"config:1: state_dir: contains a NUL byte"}},
		{"validation problems", "log:\n  level: loud\ntftp:\n  timeout: -1s\n",
			[]string{"config:2: log.level: invalid level", "config:4: tftp.timeout: must be a positive duration"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{Data: []byte(tt.yaml)})
			if err == nil {
				t.Fatal("loaded")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %q, want it to start with %q", i, lines[i], w)
				}
			}
		})
	}
}
