package devices

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEveryField: docs/status.md names every field of the JSON the
// API and `sealboot status --json` give, and every phase.
func TestDocsListEveryField(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../../docs/status.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(tp reflect.Type) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Map {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || tp.PkgPath() != reflect.TypeFor[List]().PkgPath() || seen[tp] {
			return
		}
		seen[tp] = true
		for f := range tp.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/status.md does not list %s.%s (`%s`)", tp.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[List]())
	walk(reflect.TypeFor[Device]())
	for _, p := range Phases {
		if !strings.Contains(doc, "| `"+p+"` |") {
			t.Errorf("docs/status.md does not describe phase %s", p)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d types walked", len(seen))
	}
}
