package config

import (
	"reflect"
	"testing"
)

// TestDecodeLeavesDerivedValuesUnset: Decode resolves nothing, so that a
// reload can derive tftp.binding_check and the directories from the values
// it keeps; Load derives them from the file's.
func TestDecodeLeavesDerivedValuesUnset(t *testing.T) {
	t.Parallel()
	src := Source{Data: []byte("state_dir: /srv/sb\n")}
	raw, err := Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	if raw.KeysDir != "" || raw.ConfigsDir != "" || raw.TFTP.BindingCheck != nil {
		t.Fatalf("decoded config has derived values: %+v", raw)
	}
	loaded, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := raw.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resolved, loaded) {
		t.Fatalf("Decode then Resolved differs from Load:\n%+v\n%+v", resolved, loaded)
	}
	if raw.KeysDir != "" {
		t.Fatal("Resolved changed the decoded config")
	}
}

func TestValueAndKeep(t *testing.T) {
	t.Parallel()
	run := Default()
	run.DHCP.Enabled, run.DHCP.V4.Interfaces, run.TFTP.Listen = true, []string{"eth1"}, []string{":6969"}
	tests := []struct {
		key  string
		want any
	}{
		{"tftp.listen", []string{":6969"}},
		{"dhcp.enabled", true},
		{"dhcp.v4.interfaces", []string{"eth1"}},
		{"dhcp", run.DHCP},
		{"dhcp.v4", run.DHCP.V4},
		{"watch.max_size", MiB},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			got, err := run.Value(tt.key)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Value = %#v, %v; want %#v", got, err, tt.want)
			}
			next := Default()
			if err := next.Keep(tt.key, &run); err != nil {
				t.Fatal(err)
			}
			if kept, _ := next.Value(tt.key); !reflect.DeepEqual(kept, tt.want) {
				t.Fatalf("after Keep: %#v", kept)
			}
		})
	}
	for _, bad := range []string{"", "tftp.lisen", "tftp.listen.x", "shutdown_timeout.x", "dhcp.v4.subnets.pool"} {
		if _, err := run.Value(bad); err == nil {
			t.Errorf("Value(%q) did not fail", bad)
		}
		if err := run.Keep(bad, &run); err == nil {
			t.Errorf("Keep(%q) did not fail", bad)
		}
	}
}

// TestEveryKeyHasAValue: each key of the schema can be read and kept.
func TestEveryKeyHasAValue(t *testing.T) {
	t.Parallel()
	cfg := Default()
	for _, key := range newSchema(reflect.TypeOf(Config{})).keys() {
		if _, err := cfg.Value(key); err != nil {
			t.Error(err)
		}
	}
}
