package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// schema is the tree of configuration keys derived from Config's
// mapstructure tags: each key is a leaf value, a section (a structure) or a
// list of sections (dhcp.v4.subnets).
type schema struct {
	leaves   map[string]reflect.Type
	sections map[string]*schema
	lists    map[string]*schema // element schema of a list of sections
}

var durationType = reflect.TypeOf(time.Duration(0))

func newSchema(t reflect.Type) *schema {
	s := &schema{leaves: map[string]reflect.Type{}, sections: map[string]*schema{}, lists: map[string]*schema{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		switch ft := f.Type; {
		case key == "":
		case ft.Kind() == reflect.Struct && ft != durationType:
			s.sections[key] = newSchema(ft)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			s.lists[key] = newSchema(ft.Elem())
		default:
			s.leaves[key] = ft
		}
	}
	return s
}

// keys returns the dotted path of every leaf and list, sorted: the keys
// viper, environment variables and flags address.
func (s *schema) keys() []string {
	var out []string
	for k := range s.leaves {
		out = append(out, k)
	}
	for k := range s.lists {
		out = append(out, k)
	}
	for k, sub := range s.sections {
		for _, sk := range sub.keys() {
			out = append(out, k+"."+sk)
		}
	}
	sort.Strings(out)
	return out
}

// all returns every key a file may contain, sections and list elements
// ("dhcp.v4.subnets[].pool") included, for suggestions.
func (s *schema) all() []string {
	var out []string
	for k := range s.leaves {
		out = append(out, k)
	}
	for k := range s.lists {
		out = append(out, k)
	}
	for k, sub := range s.sections {
		out = append(out, k)
		for _, sk := range sub.all() {
			out = append(out, k+"."+sk)
		}
	}
	for k, el := range s.lists {
		for _, ek := range el.all() {
			out = append(out, k+"[]."+ek)
		}
	}
	return out
}

// suggest returns the known key closest to an unknown one, if it is close
// enough to be a likely misspelling.
func suggest(unknown string, known []string) string {
	best, bestDist := "", len(unknown)/3+2
	for _, k := range known {
		if d := editDistance(unknown, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return "SEALBOOT_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// unknownKeyError is an unknown key with a possible correction.
func unknownKeyError(where, key, hint string) error {
	if hint != "" {
		return fmt.Errorf("%sunknown key %q (did you mean %q?)", where, key, hint)
	}
	return fmt.Errorf("%sunknown key %q", where, key)
}
