package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// One invalid sztp section per rule, with the exact error.
func TestSZTPErrors(t *testing.T) {
	t.Parallel()
	const on = "sztp:\n  listen: [\":8443\"]\n  tls_cert: c.pem\n  tls_key: c.key\n"
	tests := []struct{ name, yaml, want string }{
		{"listen without tls", "sztp:\n  listen: [\":8443\"]\n", "sztp.tls_cert: the SZTP server speaks HTTPS only: tls_cert and tls_key are required with listen"},
		{"bad listen", "sztp:\n  listen: [\"8443\"]\n  tls_cert: c\n  tls_key: k\n", `sztp.listen[0]: invalid address "8443" (want host:port, e.g. :69, 192.0.2.1:69 or [2001:db8::1]:69)`},
		{"bad sign", on + "  sign: sometimes\n", `sztp.sign: "sometimes" is not auto, always or never`},
		{"bad encrypt", on + "  encrypt: yes\n", `sztp.encrypt: "yes" is not auto, always or never`},
		{"sign always without owner", on + "  sign: always\n", "sztp.sign: always needs owner_cert, owner_key and vouchers_dir"},
		{"owner cert without key", on + "  owner_cert: o.pem\n", "sztp.owner_cert: owner_cert and owner_key come together"},
		{"bad reporting level", on + "  reporting_level: chatty\n", `sztp.reporting_level: "chatty" is not minimal or verbose`},
		{"redirect without address", on + "  redirect:\n    - port: 443\n", "sztp.redirect[0].address: is required"},
		{"redirect bad port", on + "  redirect:\n    - address: a.example\n      port: 70000\n", "sztp.redirect[0].port: 70000 is not a port"},
		{"bad image url", on + "  image_url: ftp://x/\n", `sztp.image_url: invalid URL "ftp://x/" (want http(s)://host[:port]/path)`},
		{"zero max_requests", on + "  max_requests: 0\n", "sztp.max_requests: must be positive"},
		{"sztp image without a server", on + "profiles:\n  - name: ex\n    vendor: cisco\n    transport: sztp\n    image: ios.bin\n",
			"profiles[0] (ex): image: an SZTP device downloads it from the HTTP server, and http.listen and sztp.image_url are empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(Source{Data: []byte(tt.yaml)})
			if err == nil || withoutLines(err) != "config: "+tt.want {
				t.Fatalf("error\n %v\nwant\n config: %s", err, tt.want)
			}
		})
	}
}

func TestSZTPLoads(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Source{Data: []byte(`sztp:
  listen: ["[::]:8443"]
  tls_cert: /etc/sealboot/sztp.pem
  tls_key: /etc/sealboot/sztp.key
  owner_cert: /etc/sealboot/owner.pem
  owner_key: /etc/sealboot/owner.key
  vouchers_dir: /var/lib/sealboot/vouchers
  sign: always
  redirect:
    - address: sztp2.example.net
      port: 443
profiles:
  - name: c9300
    vendor: cisco
    model: "c9300-*"
    transport: sztp
    os_name: IOS-XE
    os_version: "17.9.4"
    configuration_handling: replace
`)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SZTP.Sign != "always" || cfg.SZTP.Encrypt != "auto" || len(cfg.SZTP.Redirect) != 1 || cfg.Profiles[0].OSVersion != "17.9.4" || cfg.SZTP.TrustAnchors == "" {
		t.Fatalf("%+v", cfg.SZTP)
	}
}

// The Syntax example of tftpd/sztpd/README.md is a valid configuration.
func TestSZTPREADMEExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../../tftpd/sztpd/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no YAML example")
	}
	for i, b := range blocks {
		yaml, _, _ := strings.Cut(b, "```")
		if _, err := Load(Source{Data: []byte(yaml)}); err != nil {
			t.Errorf("tftpd/sztpd/README.md example %d:\n%s\n%v", i+1, yaml, err)
		}
	}
}

// withoutLines is err's text without the line numbers after the file name,
// for tests that state the problem only.
func withoutLines(err error) string {
	return regexp.MustCompile(`(?m)^config:\d+: `).ReplaceAllString(err.Error(), "config: ")
}
