package main

import (
	"net/netip"
	"reflect"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/plugins/bootstrap"
)

func TestHTTPEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   config.HTTP
		want bootstrap.HTTP
	}{
		{"off", config.HTTP{}, bootstrap.HTTP{Scheme: "http"}},
		{"first address", config.HTTP{Listen: []string{":8080", "[::]:9090"}}, bootstrap.HTTP{Scheme: "http", Port: 8080}},
		{"ipv6", config.HTTP{Listen: []string{"[2001:db8::1]:80"}}, bootstrap.HTTP{Scheme: "http", Port: 80}},
		{"tls", config.HTTP{Listen: []string{"192.0.2.1:8443"}, TLSCert: "/etc/sealboot/http.crt"}, bootstrap.HTTP{Scheme: "https", Port: 8443}},
	}
	for _, tt := range tests {
		if got := httpEndpoint(tt.in); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestProfilesMapping(t *testing.T) {
	t.Parallel()
	got := profiles([]config.Profile{{
		Name: "ex", Vendor: "juniper", Model: "ex*", Serials: []string{"CW1"}, Transport: "http", Image: "a.tgz", ImageAlt: "b.tgz",
		Options: config.ProfileOptions{NTP: []string{"192.0.2.1", "2001:db8::1"}, Domain: "example.net",
			Raw: []config.RawOption{{Code: 125, Hex: "00:01"}}, Raw6: []config.RawOption{{Code: 64, Hex: "61 62"}}},
	}, {Name: "plain"}})
	want := []bootstrap.Profile{{
		Name: "ex", Vendor: "juniper", Model: "ex*", Serials: []string{"CW1"}, Transport: bootstrap.TransportHTTP, Image: "a.tgz", ImageAlt: "b.tgz",
		Options: bootstrap.Options{NTP: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, Domain: "example.net",
			Raw4: []bootstrap.RawOption{{Code: 125, Value: []byte{0, 1}}}, Raw6: []bootstrap.RawOption{{Code: 64, Value: []byte("ab")}}},
	}, {Name: "plain", Transport: bootstrap.TransportTFTP}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n %+v\nwant\n %+v", got, want)
	}
}

func TestWarnUnknownProfiles(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.WarnLevel)
	known := func(s string) bool { return s == "KNOWN1" }
	warnUnknownProfiles([]config.Profile{
		{Name: "typo", Serials: []string{"KNWON1", "KNOWN2"}},
		{Name: "one-known", Serials: []string{"NEW1", "KNOWN1"}},
		{Name: "by-vendor", Vendor: "arista"},
	}, known, zap.New(core))
	ev := logs.AllUntimed()
	if len(ev) != 1 || ev[0].ContextMap()["profile"] != "typo" {
		t.Fatalf("warnings: %v", ev)
	}
}
