package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestProfileErrors: one invalid profile per rule, and the exact error,
// which names the profile and the key.
func TestProfileErrors(t *testing.T) {
	t.Parallel()
	const http = "http:\n  listen: [\":8080\"]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"no name", "profiles:\n  - vendor: juniper\n",
			`profiles[0]: name: is required (it names the profile in the log)`},
		{"bad name", "profiles:\n  - name: a b\n    vendor: juniper\n",
			`profiles[0]: name: "a b" may only use letters, digits, '.', '_', '-'`},
		{"duplicate name", "profiles:\n  - name: ex\n    vendor: juniper\n  - name: ex\n    vendor: arista\n",
			`profiles[1]: name: "ex" is the name of profiles[0] too`},
		{"unknown vendor", "profiles:\n  - name: jx\n    vendor: Juniper\n",
			`profiles[0] (jx): vendor: unknown vendor "Juniper" (want one of juniper, arista, cisco, dell, nokia, ciena, zpe)`},
		{"bad model glob", "profiles:\n  - name: ex\n    model: \"ex[2200\"\n",
			`profiles[0] (ex): model: invalid pattern "ex[2200" (path.Match syntax: *, ?, [a-z])`},
		{"bad serial", "profiles:\n  - name: ex\n    serials: [CW1, \"../etc\"]\n",
			`profiles[0] (ex): serials[1]: invalid serial "../etc"`},
		{"catch-all not last", "profiles:\n  - name: all\n  - name: ex\n    vendor: juniper\n",
			`profiles[0] (all): matches every device (no vendor, model or serials), so the profiles after it never match: put it last`},
		{"unknown transport", "profiles:\n  - name: ex\n    vendor: juniper\n    transport: ftp\n",
			`profiles[0] (ex): transport: unknown transport "ftp" (want tftp, http or sztp)`},
		{"sztp without sztp.listen", "profiles:\n  - name: ex\n    vendor: juniper\n    transport: sztp\n",
			`profiles[0] (ex): transport: sztp needs the SZTP bootstrap server, and sztp.listen is empty`},
		{"bad configuration_handling", "profiles:\n  - name: ex\n    vendor: juniper\n    configuration_handling: append\n",
			`profiles[0] (ex): configuration_handling: "append" is not merge or replace`},
		{"http without http.listen", "profiles:\n  - name: ex\n    vendor: juniper\n    transport: http\n",
			`profiles[0] (ex): transport: http needs the built-in HTTP server, and http.listen is empty`},
		{"image over tftp", "profiles:\n  - name: ex\n    vendor: juniper\n    image: junos.tgz\n",
			`profiles[0] (ex): image: needs transport: http or sztp (images are served by the HTTP server only)`},
		{"image outside images_dir", http + "profiles:\n  - name: ex\n    vendor: juniper\n    transport: http\n    image: ../junos.tgz\n",
			`profiles[0] (ex): image: invalid file name "../junos.tgz" (a file directly in images_dir, as the HTTP server serves them: at most 80 characters, letters, digits, '.', '_', '-', '+', no leading '.')`},
		{"image in a subdirectory", http + "profiles:\n  - name: ex\n    vendor: juniper\n    transport: http\n    image: junos/x.tgz\n",
			`profiles[0] (ex): image: invalid file name "junos/x.tgz" (a file directly in images_dir, as the HTTP server serves them: at most 80 characters, letters, digits, '.', '_', '-', '+', no leading '.')`},
		{"image_alt absolute", http + "profiles:\n  - name: ex\n    vendor: juniper\n    transport: http\n    image_alt: /srv/junos.tgz\n",
			`profiles[0] (ex): image_alt: invalid file name "/srv/junos.tgz" (a file directly in images_dir, as the HTTP server serves them: at most 80 characters, letters, digits, '.', '_', '-', '+', no leading '.')`},
		{"bad ntp", "profiles:\n  - name: p\n    vendor: juniper\n  - name: juniper-ex\n    vendor: juniper\n  - name: q\n    vendor: juniper\n    options:\n      ntp: [x]\n",
			`profiles[2] (q): options.ntp[0]: invalid address "x"`},
		{"bad dns", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      dns: [192.0.2.53, 192.0.2]\n",
			`profiles[0] (ex): options.dns[1]: invalid address "192.0.2"`},
		{"zoned address", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      ntp: [\"fe80::1%eth0\"]\n",
			`profiles[0] (ex): options.ntp[0]: invalid address "fe80::1%eth0"`},
		{"bad log", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      log: [syslog]\n",
			`profiles[0] (ex): options.log[0]: invalid address "syslog"`},
		{"v6 log", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      log: [\"2001:db8::514\"]\n",
			`profiles[0] (ex): options.log[0]: 2001:db8::514: DHCPv6 has no log server option (IPv4 addresses only)`},
		{"bad domain", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      domain: pop1..example.net\n",
			`profiles[0] (ex): options.domain: invalid domain name "pop1..example.net"`},
		{"raw code out of range", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw: [{code: 255, hex: \"00\"}]\n",
			`profiles[0] (ex): options.raw[0].code: 255 is not an option code (want 1 to 254)`},
		{"raw code sealboot sets", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw: [{code: 67, hex: \"41\"}]\n",
			`profiles[0] (ex): options.raw[0].code: 67 is set by sealboot itself (the boot options, from transport and dhcp.bootfile)`},
		{"raw code twice", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw: [{code: 125, hex: \"00\"}, {code: 125, hex: \"01\"}]\n",
			`profiles[0] (ex): options.raw[1].code: 125 is set by options.raw[0] too`},
		{"raw code of a named key", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      ntp: [192.0.2.123]\n      raw: [{code: 42, hex: \"c0000201\"}]\n",
			`profiles[0] (ex): options.raw[0].code: 42 is set by options.ntp too`},
		{"raw bad hex", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw: [{code: 125, hex: \"0g\"}]\n",
			`profiles[0] (ex): options.raw[0].hex: invalid hex "0g" (want pairs of hex digits, optionally separated by ':' or ' ')`},
		{"raw too long", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw: [{code: 125, hex: \"" + strings.Repeat("00", 256) + "\"}]\n",
			`profiles[0] (ex): options.raw[0].hex: 256 bytes is too long (at most 255)`},
		{"raw6 code sealboot sets", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw6: [{code: 59, hex: \"41\"}]\n",
			`profiles[0] (ex): options.raw6[0].code: 59 is set by sealboot itself (the boot options, from transport and dhcp.bootfile)`},
		{"raw6 code of a named key", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      domain: example.net\n      raw6: [{code: 24, hex: \"00\"}]\n",
			`profiles[0] (ex): options.raw6[0].code: 24 is set by options.domain too`},
		{"raw6 code out of range", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw6: [{code: 0, hex: \"\"}]\n",
			`profiles[0] (ex): options.raw6[0].code: 0 is not an option code (want 1 to 65535)`},
		{"raw6 too long", "profiles:\n  - name: ex\n    vendor: juniper\n    options:\n      raw6: [{code: 64, hex: \"" + strings.Repeat("00", 1025) + "\"}]\n",
			`profiles[0] (ex): options.raw6[0].hex: 1025 bytes is too long (at most 1024)`},
		{"unknown key", "profiles:\n  - name: ex\n    vendr: juniper\n",
			`config:3: unknown key "profiles[0].vendr" (did you mean "profiles[].vendor"?)`},
		{"unknown option key", "profiles:\n  - name: ex\n    options:\n      ntpp: [192.0.2.1]\n",
			`config:4: unknown key "profiles[0].options.ntpp" (did you mean "profiles[].options.ntp"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(Source{Data: []byte(tt.yaml)})
			want, got := "config: "+tt.want, ""
			if err != nil {
				got = withoutLines(err)
			}
			if tt.want[:7] == "config:" {
				want, got = tt.want, err.Error()
			}
			if err == nil || got != want {
				t.Fatalf("error\n %v\nwant\n %s", err, want)
			}
		})
	}
}

func TestProfileLoads(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Source{Data: []byte(`http:
  listen: [":8080"]
profiles:
  - name: juniper-ex
    vendor: juniper
    model: "ex2[23]00-*"
    transport: http
    image: junos-arm-32-23.4R2.tgz
    options:
      ntp: [192.0.2.123, "2001:db8::123"]
      dns: [192.0.2.53]
      log: [192.0.2.5]
      domain: pop1.example.net.
      raw: [{code: 125, hex: "00:00:0a:4c"}]
      raw6: [{code: 64, hex: "61 62"}]
  - name: the-rest
`)})
	if err != nil {
		t.Fatal(err)
	}
	want := []Profile{{
		Name: "juniper-ex", Vendor: "juniper", Model: "ex2[23]00-*", Transport: "http", Image: "junos-arm-32-23.4R2.tgz",
		Options: ProfileOptions{NTP: []string{"192.0.2.123", "2001:db8::123"}, DNS: []string{"192.0.2.53"}, Log: []string{"192.0.2.5"},
			Domain: "pop1.example.net.", Raw: []RawOption{{125, "00:00:0a:4c"}}, Raw6: []RawOption{{64, "61 62"}}},
	}, {Name: "the-rest"}}
	if !reflect.DeepEqual(cfg.Profiles, want) {
		t.Fatalf("profiles\n %+v\nwant\n %+v", cfg.Profiles, want)
	}
}
