package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Source says where Load reads configuration from. Later sources win:
// defaults, then the file, then environment variables, then flags.
type Source struct {
	File  string                 // YAML file; empty means built-in defaults only
	Data  []byte                 // YAML content used instead of File when File is empty
	Env   []string               // KEY=value pairs, normally os.Environ(); SEALBOOT_* are read
	Flags map[string]*pflag.Flag // configuration key → flag; only flags set on the command line count
}

// Name is how errors name the source: its file, or "config".
func (src Source) Name() string {
	if src.File != "" {
		return src.File
	}
	return "config"
}

// Load reads, decodes, resolves and validates a configuration. Unknown keys
// (in the file or as SEALBOOT_* variables) are errors naming them, with the
// line and a suggestion; so are values that do not validate.
func Load(src Source) (*Config, error) {
	cfg, err := Decode(src)
	if err != nil {
		return nil, err
	}
	out, err := cfg.Resolved()
	if err != nil {
		return nil, src.Annotate(err)
	}
	return out, nil
}

// Decode reads and decodes a configuration as strictly as Load, but neither
// resolves nor validates it: the values whose defaults derive from others
// (Resolve) stay unset, so that a reload can derive them from the values it
// keeps running.
func Decode(src Source) (*Config, error) {
	sch := newSchema(reflect.TypeOf(Config{}))
	name, data := src.Name(), src.Data
	if src.File != "" {
		b, err := os.ReadFile(src.File)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: cannot read the configuration file: %w", src.File, err)
		}
		data = b
	}
	if err := checkYAML(name, data, sch); err != nil {
		return nil, err
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if len(bytes.TrimSpace(data)) > 0 {
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := setDefaults(v, sch); err != nil {
		return nil, err
	}
	setSystemdDefaults(v, src.Env)
	if err := applyEnv(v, sch, src.Env); err != nil {
		return nil, err
	}
	applyFlags(v, src.Flags)
	cfg := &Config{}
	if err := v.UnmarshalExact(cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.TextUnmarshallerHookFunc(),
		numberToDuration,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	))); err != nil {
		return nil, src.Annotate(decodeErrors(err))
	}
	return cfg, nil
}

// setDefaults registers every key's default with viper, so environment
// variables and flags can override keys the file does not mention.
func setDefaults(v *viper.Viper, sch *schema) error {
	var m map[string]any
	if err := mapstructure.Decode(Default(), &m); err != nil {
		return fmt.Errorf("encode defaults: %w", err)
	}
	for _, key := range sch.keys() {
		if val, ok := lookup(m, key); ok {
			v.SetDefault(key, val)
		}
	}
	return nil
}

func lookup(m map[string]any, key string) (any, bool) {
	head, rest, nested := strings.Cut(key, ".")
	val, ok := m[head]
	if !ok || !nested {
		if p := reflect.ValueOf(val); ok && p.Kind() == reflect.Pointer && p.IsNil() {
			return nil, false
		}
		return val, ok
	}
	sub, ok := val.(map[string]any)
	if !ok {
		return nil, false
	}
	return lookup(sub, rest)
}

// setSystemdDefaults makes the state directory systemd gives the service
// (StateDirectory= sets $STATE_DIRECTORY) state_dir's default: the file,
// SEALBOOT_STATE_DIR and --state-dir still win.
func setSystemdDefaults(v *viper.Viper, env []string) {
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, "STATE_DIRECTORY="); ok {
			if dir, _, _ := strings.Cut(val, ":"); dir != "" {
				v.SetDefault("state_dir", dir)
			}
		}
	}
}

// applyEnv sets keys from SEALBOOT_* variables; a variable that names no key
// is an error, as a misspelled key in the file is.
func applyEnv(v *viper.Viper, sch *schema, env []string) error {
	byName := map[string]string{}
	names := []string{}
	for _, key := range sch.keys() {
		byName[EnvName(key)] = key
		names = append(names, EnvName(key))
	}
	var errs []error
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SEALBOOT_") {
			continue
		}
		key, ok := byName[name]
		if !ok {
			errs = append(errs, unknownKeyError("environment: ", name, suggest(name, names)))
			continue
		}
		v.Set(key, val)
	}
	return errors.Join(errs...)
}

// applyFlags sets keys from flags given on the command line; they win over
// everything else.
func applyFlags(v *viper.Viper, flags map[string]*pflag.Flag) {
	for key, f := range flags {
		if f == nil || !f.Changed {
			continue
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v.Set(key, sv.GetSlice())
			continue
		}
		v.Set(key, f.Value.String())
	}
}

// numberToDuration refuses a bare number for a duration: YAML's
// "timeout: 5" would otherwise be 5 nanoseconds, which passes every check
// and times out every transfer. 0 is fine in any unit.
func numberToDuration(from, to reflect.Type, data any) (any, error) {
	if d := reflect.TypeOf(time.Duration(0)); to != d || from == d {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit (write e.g. %vs, %vms or %vm)", data, data, data, data)
	}
	return data, nil
}

// decodeErrors rewrites mapstructure's errors as "key: problem" lines.
func decodeErrors(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) && !isJoin(e) {
			var pe *mapstructure.ParseError
			var ue *mapstructure.UnconvertibleTypeError
			switch {
			case errors.As(de.Unwrap(), &pe):
				out = append(out, fmt.Errorf("%s: invalid value %q (want %s)", de.Name(), fmt.Sprint(pe.Value), typeName(pe.Expected.Type())))
			case errors.As(de.Unwrap(), &ue):
				out = append(out, fmt.Errorf("%s: invalid value %q (want %s)", de.Name(), fmt.Sprint(ue.Value), typeName(ue.Expected.Type())))
			default:
				out = append(out, fmt.Errorf("%s: %w", de.Name(), de.Unwrap()))
			}
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, sub := range j.Unwrap() {
				walk(sub)
			}
			return
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}

// typeName says what a configuration value of type t looks like.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func isJoin(e error) bool {
	_, ok := e.(interface{ Unwrap() []error })
	return ok
}
