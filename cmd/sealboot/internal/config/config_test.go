package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealboot/sealboot/configs"
	"github.com/spf13/pflag"
)

func TestReferenceEqualsDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load(Source{Data: []byte(configs.Reference)})
	if err != nil {
		t.Fatalf("load reference.yaml: %v", err)
	}
	want := Default()
	want.Resolve()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("configs/reference.yaml differs from Default():\n got %+v\nwant %+v", *got, want)
	}
}

func TestReferenceDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	for _, key := range newSchema(reflect.TypeOf(Config{})).all() { // list elements too: profiles[].options.raw[].hex
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(configs.Reference, leaf+":") {
			t.Errorf("configs/reference.yaml does not mention %s", key)
		}
	}
}

func TestMinimalLoads(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Source{Data: []byte(configs.Minimal)})
	if err != nil {
		t.Fatalf("load minimal.yaml: %v", err)
	}
	if cfg.StateDir != "/var/lib/sealboot" || cfg.KeysDir != "/var/lib/sealboot/keys" || cfg.DHCP.Enabled {
		t.Fatalf("minimal.yaml: unexpected %+v", cfg)
	}
	if *cfg.TFTP.BindingCheck {
		t.Fatal("binding check must default to off when DHCP is off")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string // substrings of the error
	}{
		{name: "misspelled key", yaml: "tftp:\n  listn: [\":69\"]\n", want: []string{`config:2: unknown key "tftp.listn" (did you mean "tftp.listen"?)`}},
		{name: "misspelled section", yaml: "tfpt:\n  listen: [\":69\"]\n", want: []string{`config:1: unknown key "tfpt" (did you mean "tftp"?)`}},
		{name: "unknown key in list element", yaml: "dhcp:\n  v4:\n    subnets:\n      - netwrk: 10.0.0.0/8\n", want: []string{`config:4: unknown key "dhcp.v4.subnets[0].netwrk" (did you mean "dhcp.v4.subnets[].network"?)`}},
		{name: "duplicate key", yaml: "log:\n  level: info\n  level: debug\n", want: []string{`config:3: key "log.level" appears twice (first on line 2)`}},
		{name: "section given a value", yaml: "tftp: 69\n", want: []string{"config:1: tftp must be a section of keys, not a value"}},
		{name: "not a mapping", yaml: "- a\n- b\n", want: []string{"must be a mapping"}},
		{name: "syntax error", yaml: "tftp:\n  listen: [\":69\"\n", want: []string{"config:2: YAML syntax: did not find expected ',' or ']'"}},
		{name: "bad listen address", yaml: "tftp:\n  listen: [\"1.2.3\"]\n", want: []string{`tftp.listen[0]: invalid address "1.2.3"`}},
		{name: "bad listen ip", yaml: "tftp:\n  listen: [\"1.2.3:69\"]\n", want: []string{`tftp.listen[0]: invalid address "1.2.3:69"`}},
		{name: "wrong type", yaml: "tftp:\n  max_transfers: many\n", want: []string{`tftp.max_transfers: invalid value "many" (want a whole number)`}},
		{name: "wrong bool", yaml: "dhcp:\n  enabled: perhaps\n", want: []string{`dhcp.enabled: invalid value "perhaps" (want true or false)`}},
		{name: "bad duration", yaml: "tftp:\n  timeout: soon\n", want: []string{"tftp.timeout:"}},
		{name: "bad size", yaml: "tftp:\n  cache_size: 12XB\n", want: []string{"tftp.cache_size:", `invalid size "12XB"`}},
		{name: "negative queue wait", yaml: "tftp:\n  queue_wait: -1s\n", want: []string{"tftp.queue_wait: must not be negative"}},
		{name: "negative receive buffer", yaml: "dhcp:\n  receive_buffer: -1\n", want: []string{"dhcp.receive_buffer: must be between 0 and 1GiB"}},
		{name: "huge receive buffer", yaml: "dhcp:\n  receive_buffer: 2GiB\n", want: []string{"dhcp.receive_buffer: must be between 0 and 1GiB"}},
		{name: "bad level", yaml: "log:\n  level: loud\n", want: []string{`log.level: invalid level "loud"`}},
		{name: "admin bounds", yaml: "admin:\n  failing_after: 0\n  story_events: 50\n  story_total: 10\n", want: []string{"admin.failing_after: must be positive", "admin.story_total: 10 is less than admin.story_events (50)"}},
		{name: "admin socket too long", yaml: "admin:\n  socket: /" + strings.Repeat("s", 110) + "\n", want: []string{"admin.socket: path longer than 107 bytes"}},
		{name: "bad cipher", yaml: "seal:\n  cipher: des\n", want: []string{`seal.cipher: unknown cipher "des"`}},
		{name: "pattern without serial", yaml: "tftp:\n  names: [config.enc]\n", want: []string{`tftp.names[0]: pattern "config.enc" must contain {serial} exactly once`}},
		{name: "traversal pattern", yaml: "tftp:\n  names: [\"../{serial}\"]\n", want: []string{`tftp.names[0]: pattern "../{serial}" may only use`}},
		{name: "dhcp v6 subnet outside network", yaml: "dhcp:\n  enabled: true\n  v6:\n    interfaces: [eth1]\n    pool: 2001:db8::100-2001:db8::1ff\n    subnets:\n      - network: 2001:db8:1::/64\n        pool: 2001:db8:2::1-2001:db8:2::9\n      - network: 10.1.0.0/24\n        pool: 2001:db8:3::1-2001:db8:3::9\n        dns: [10.1.0.1]\n", want: []string{`dhcp.v6.subnets[0].pool: "2001:db8:2::1-2001:db8:2::9" is not inside network 2001:db8:1::/64`, `dhcp.v6.subnets[1].network: invalid IPv6 network "10.1.0.0/24"`, `dhcp.v6.subnets[1].dns[0]: invalid IPv6 address "10.1.0.1"`}},
		{name: "dhcp without interfaces", yaml: "dhcp:\n  enabled: true\n", want: []string{"dhcp.enabled: true, but neither dhcp.v4.interfaces nor dhcp.v6.interfaces"}},
		{name: "dhcp bad pool", yaml: "dhcp:\n  enabled: true\n  v4:\n    interfaces: [eth1]\n    pool: 10.0.0-10.0.0.9\n    netmask: 255.255.255.0\n", want: []string{`dhcp.v4.pool: invalid IPv4 address "10.0.0"`}},
		{name: "dhcp pool backwards", yaml: "dhcp:\n  enabled: true\n  v4:\n    interfaces: [eth1]\n    pool: 10.0.0.9-10.0.0.1\n    netmask: 255.255.255.0\n", want: []string{`dhcp.v4.pool: pool "10.0.0.9-10.0.0.1" ends before it starts`}},
		{name: "dhcp pool and router off the server's link", yaml: "dhcp:\n  enabled: true\n  v4:\n    interfaces: [eth1]\n    server_id: 192.0.2.1\n    pool: 10.0.0.1-10.0.0.5\n    netmask: 255.255.255.0\n    router: 198.51.100.1\n", want: []string{`dhcp.v4.pool: "10.0.0.1-10.0.0.5" is not inside network 192.0.2.0/24`, `dhcp.v4.router: 198.51.100.1 is not inside network 192.0.2.0/24`}},
		{name: "duration without a unit", yaml: "tftp:\n  timeout: 5\n  queue_wait: 0\n", want: []string{`tftp.timeout: 5 has no unit (write e.g. 5s, 5ms or 5m)`}},
		{name: "dhcp subnet outside network", yaml: "dhcp:\n  enabled: true\n  v4:\n    interfaces: [eth1]\n    pool: 10.0.0.1-10.0.0.9\n    netmask: 255.255.255.0\n    subnets:\n      - network: 10.1.0.0/24\n        pool: 10.2.0.1-10.2.0.9\n        netmask: 255.255.255.0\n", want: []string{`dhcp.v4.subnets[0].pool: "10.2.0.1-10.2.0.9" is not inside network 10.1.0.0/24`}},
		{name: "bootfile not served", yaml: "tftp:\n  names: [\"{serial}.enc\"]\ndhcp:\n  enabled: true\n  bootfile: \"{serial}.cfg\"\n  v4:\n    interfaces: [eth1]\n    pool: 10.0.0.1-10.0.0.9\n    netmask: 255.255.255.0\n", want: []string{`dhcp.bootfile: template "{serial}.cfg" matches neither tftp.names nor tftp.fixed_names`}},
		{name: "binding check without dhcp", yaml: "tftp:\n  binding_check: true\n", want: []string{"tftp.binding_check: needs dhcp.enabled"}},
		{name: "http fetch url", yaml: "keystore:\n  fetch_url: http://certs.example/{serial}.pem\n", want: []string{"keystore.fetch_url: \"http://certs.example/{serial}.pem\" must use https"}},
		{name: "unknown env", env: []string{"SEALBOOT_TFTP_LISTN=:69"}, want: []string{`environment: unknown key "SEALBOOT_TFTP_LISTN" (did you mean "SEALBOOT_TFTP_LISTEN"?)`}},
		{name: "bad env value", env: []string{"SEALBOOT_TFTP_LISTEN=nope"}, want: []string{`tftp.listen[0]: invalid address "nope"`}},
		{name: "bad http listen", yaml: "http:\n  listen: [\":80\", \"1.2.3\"]\n", want: []string{`http.listen[1]: invalid address "1.2.3"`}},
		{name: "tls cert without key", yaml: "http:\n  tls_cert: /etc/ssl/sealboot.crt\n", want: []string{"http.tls_key: needed with http.tls_cert"}},
		{name: "tls key without cert", yaml: "http:\n  tls_key: /etc/ssl/sealboot.key\n", want: []string{"http.tls_cert: needed with http.tls_key"}},
		{name: "tls files unreadable", yaml: "http:\n  tls_cert: /nonexistent/c.pem\n  tls_key: /nonexistent/k.pem\n", want: []string{"http.tls_cert: cannot read /nonexistent/c.pem", "http.tls_key: cannot read /nonexistent/k.pem"}},
		{name: "tls files not a pair", yaml: "http:\n  tls_cert: /dev/null\n  tls_key: /dev/null\n", want: []string{"http.tls_cert: does not load with http.tls_key"}},
		{name: "http limits", yaml: "http:\n  max_requests: 4\n  max_per_client: 5\n  min_rate: 0\n  header_timeout: 0s\n", want: []string{"http.max_per_client: must be between 1 and http.max_requests (4)", "http.min_rate: must be a positive size", "http.header_timeout: must be a positive duration"}},
		{name: "images_dir with NUL", env: []string{"SEALBOOT_IMAGES_DIR=/srv/a\x00b"}, want: []string{"images_dir: contains a NUL byte"}},
		{name: "several problems at once", yaml: "log:\n  level: loud\ntftp:\n  max_transfers: 0\n", want: []string{"log.level", "tftp.max_transfers: must be at least 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(Source{Data: []byte(tt.yaml), Env: tt.env})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sealboot.yaml")
	yaml := "state_dir: /srv/sb\ntftp:\n  listen: [\":1069\"]\n  cache_size: 1MiB\nlog:\n  level: warn\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	level := fs.String("log-level", "", "")
	listen := fs.StringSlice("tftp-listen", nil, "")
	if err := fs.Parse([]string{"--log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	_, _ = level, listen
	cfg, err := Load(Source{
		File: file,
		Env: []string{
			"SEALBOOT_LOG_LEVEL=error",                   // loses to the flag
			"SEALBOOT_TFTP_LISTEN=127.0.0.1:69,[::1]:69", // wins over the file (flag not given)
			"SEALBOOT_TFTP_TIMEOUT=2s",                   // not in the file
			"HOME=/root",                                 // not ours
		},
		Flags: map[string]*pflag.Flag{"log.level": fs.Lookup("log-level"), "tftp.listen": fs.Lookup("tftp-listen")},
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env", cfg.Log.Level, "debug"},
		{"env beats file", cfg.TFTP.Listen, []string{"127.0.0.1:69", "[::1]:69"}},
		{"env beats default", cfg.TFTP.Timeout, 2 * time.Second},
		{"file beats default", cfg.TFTP.CacheSize, MiB},
		{"derived keys_dir", cfg.KeysDir, "/srv/sb/keys"},
		{"derived images_dir", cfg.ImagesDir, "/srv/sb/images"},
		{"default kept", cfg.TFTP.MaxPerClient, 4},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"65536", 65536, true}, {"64KiB", 64 * KiB, true}, {"1 MiB", MiB, true}, {"2GiB", 2 * GiB, true},
		{"10B", 10, true}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"MiB", 0, false}, {"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		var b ByteSize
		err := b.UnmarshalText([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && b != tt.want) {
			t.Errorf("%q: got %d, %v; want %d ok=%v", tt.in, b, err, tt.want, tt.ok)
		}
		if tt.ok {
			var back ByteSize
			if err := back.UnmarshalText([]byte(b.String())); err != nil || back != b {
				t.Errorf("%q: String %q does not parse back", tt.in, b.String())
			}
		}
	}
}

// TestHTTPREADMEExamples: every YAML example in tftpd/httpd/README.md is a
// valid configuration.
func TestHTTPREADMEExamples(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../../tftpd/httpd/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("found %d YAML examples", len(blocks))
	}
	for i, b := range blocks {
		yaml, _, _ := strings.Cut(b, "```")
		if _, err := Load(Source{Data: []byte(yaml)}); err != nil {
			t.Errorf("tftpd/httpd/README.md example %d:\n%s\n%v", i+1, yaml, err)
		}
	}
}

// TestPluginREADMEExamples: every YAML example in plugins/README.md is a
// valid configuration (the Syntax block included).
func TestPluginREADMEExamples(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../../plugins/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```yaml\n")[1:]
	if len(blocks) < 4 {
		t.Fatalf("found %d YAML examples", len(blocks))
	}
	for i, b := range blocks {
		yaml, _, _ := strings.Cut(b, "```")
		if _, err := Load(Source{Data: []byte(yaml)}); err != nil {
			t.Errorf("plugins/README.md example %d:\n%s\n%v", i+1, yaml, err)
		}
	}
}

func TestSocketPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tt := range []struct {
		name, socket string
		env          map[string]string
		euid         int
		want         string
	}{
		{"systemd's runtime directory", "", map[string]string{"RUNTIME_DIRECTORY": "/run/sealboot"}, 997, "/run/sealboot/admin.sock"},
		{"the first of several", "", map[string]string{"RUNTIME_DIRECTORY": "/run/a:/run/b"}, 997, "/run/a/admin.sock"},
		{"root", "", nil, 0, "/run/sealboot/admin.sock"},
		{"a user", "", nil, 1000, "/srv/sb/admin.sock"},
		{"set", "/tmp/x.sock", map[string]string{"RUNTIME_DIRECTORY": "/run/sealboot"}, 0, "/tmp/x.sock"},
		{"off", "off", nil, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{StateDir: "/srv/sb", Admin: Admin{Socket: tt.socket}}
			if got := c.SocketPath(env(tt.env), tt.euid); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
