package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Resolved returns a copy of c with the values that derive from others
// filled in (Resolve), once it validates.
func (c Config) Resolved() (*Config, error) {
	c.Resolve()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Value returns the value of key in c: a setting ("tftp.listen") or a whole
// section ("dhcp.v4"), addressed as in the file.
func (c *Config) Value(key string) (any, error) {
	v, err := c.field(key)
	if err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// Keep sets key (a setting or a whole section) in c to its value in from.
// The two then share that value's lists, which neither changes after
// loading.
func (c *Config) Keep(key string, from *Config) error {
	dst, err := c.field(key)
	if err != nil {
		return err
	}
	src, err := from.field(key)
	if err != nil {
		return err
	}
	dst.Set(src)
	return nil
}

// field returns the settable field of c that key names, following the
// mapstructure tags that name keys in the file.
func (c *Config) field(key string) (reflect.Value, error) {
	v := reflect.ValueOf(c).Elem()
	for _, name := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct || v.Type() == durationType {
			return reflect.Value{}, fmt.Errorf("unknown key %q", key)
		}
		f, ok := fieldByTag(v, name)
		if !ok {
			return reflect.Value{}, fmt.Errorf("unknown key %q", key)
		}
		v = f
	}
	return v, nil
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("mapstructure") == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}
