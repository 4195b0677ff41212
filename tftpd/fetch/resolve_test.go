package fetch

import (
	"errors"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	r, err := newResolver([]string{"{serial}.enc", "conf.{serial}", "{serial}.cfg.enc"}, []string{"network-confg", "router-confg"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, serial string
		fixed            bool
		err              error
	}{
		{"default pattern", "SN123.enc", "SN123", false, nil},
		{"leading slash", "/SN123.enc", "SN123", false, nil},
		{"prefix pattern", "conf.JN1234", "JN1234", false, nil},
		{"most specific pattern wins, whatever the order", "ABC.cfg.enc", "ABC", false, nil},
		{"fixed name", "network-confg", "", true, nil},
		{"fixed name with slash", "/router-confg", "", true, nil},
		{"unknown clean name", "pxelinux.0", "", false, errUnknownName},
		{"pattern without serial", ".enc", "", false, errUnknownName},
		{"serial with bad byte", "SN 1.enc", "", false, errUnknownName},
		{"dotdot", "../SN1.enc", "", false, errDeniedName},
		{"dotdot inside", "SN1..enc", "", false, errDeniedName},
		{"absolute path", "/etc/passwd", "", false, errDeniedName},
		{"double slash", "//SN1.enc", "", false, errDeniedName},
		{"backslash", `..\SN1.enc`, "", false, errDeniedName},
		{"windows drive", `C:SN1.enc`, "", false, errDeniedName},
		{"nul", "SN1.enc\x00.txt", "", false, errDeniedName},
		{"newline", "SN1\n.enc", "", false, errDeniedName},
		{"non ascii", "SN1é.enc", "", false, errDeniedName},
		{"empty", "", "", false, errDeniedName},
		{"slash only", "/", "", false, errDeniedName},
		{"over long", strings.Repeat("A", 200) + ".enc", "", false, errDeniedName},
		{"dot", ".", "", false, errDeniedName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			serial, fixed, err := r.resolve(tt.in)
			if !errors.Is(err, tt.err) || serial != tt.serial || fixed != tt.fixed {
				t.Fatalf("resolve(%q) = %q, %v, %v; want %q, %v, %v", tt.in, serial, fixed, err, tt.serial, tt.fixed, tt.err)
			}
		})
	}
}

// FuzzResolve: any request name either resolves to a serial that is a
// plain, safe file name component, or is refused; never a panic.
func FuzzResolve(f *testing.F) {
	r, _ := newResolver([]string{"{serial}.enc", "conf.{serial}"}, []string{"network-confg"})
	for _, s := range []string{"SN1.enc", "../x", "/SN1.enc", "conf.A", "network-confg", "\x00", strings.Repeat("/", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		serial, fixed, err := r.resolve(name)
		if err != nil {
			if serial != "" || fixed {
				t.Fatalf("error with a result: %q %v %v", serial, fixed, err)
			}
			return
		}
		if fixed {
			return
		}
		if !validSerial(serial) || strings.ContainsAny(serial, "/\\\x00") || strings.Contains(serial, "..") {
			t.Fatalf("resolve(%q) gave unsafe serial %q", name, serial)
		}
	})
}
