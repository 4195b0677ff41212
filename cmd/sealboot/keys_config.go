package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

// keysConfig loads the configuration as serve does (the file, else
// $CONFIGURATION_DIRECTORY/sealboot.yaml; SEALBOOT_* variables and
// $STATE_DIRECTORY), for keys_dir and the vendor directory; --dir
// overrides keys_dir. With none of --dir, a configuration file or
// SEALBOOT_* variables, nothing says which keystore is meant: a usage
// error rather than the built-in default's.
func keysConfig(o *keysOpts) (*config.Config, error) {
	if o.cfg != nil {
		return o.cfg, nil
	}
	env := os.Environ()
	file := configFile(o.config, os.Getenv) // $CONFIGURATION_DIRECTORY/sealboot.yaml, as serve
	if o.dir == "" && file == "" && !hasSealbootEnv(env) {
		return nil, usagef("--dir or --config is required (the keystore directory, or the configuration that names it as keys_dir)")
	}
	cfg, err := config.Load(config.Source{File: file, Env: env})
	if err != nil {
		return nil, err
	}
	if o.dir != "" {
		cfg.KeysDir = o.dir
	}
	if o.url != "" {
		cfg.Keystore.FetchURL = o.url
	}
	if o.timeout > 0 {
		cfg.Keystore.FetchTimeout = o.timeout
	}
	o.cfg = cfg
	return cfg, nil
}

func hasSealbootEnv(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "SEALBOOT_") {
			return true
		}
	}
	return false
}

// openKeystore opens the keystore as it is now: nothing waits for files to
// settle (one still being written shows as invalid).
func openKeystore(o *keysOpts, readOnly bool) (*keystore.Store, error) {
	cfg, err := keysConfig(o)
	if err != nil {
		return nil, err
	}
	return keystore.Open(keystore.Options{Dir: cfg.KeysDir, ReadOnly: readOnly, Settle: time.Nanosecond,
		AllowSmallRSA: o.allowSmallRSA || cfg.Seal.AllowSmallRSA, PKCS7: cms.ParseCertificates}, zap.NewNop(), nil)
}

// keysVendor is the vendor directory fetch asks: keystore.fetch_* (CA,
// headers), --url and --timeout overriding the URL and the timeout.
func keysVendor(o *keysOpts) (*keystore.Vendor, error) {
	cfg, err := keysConfig(o)
	if err != nil {
		return nil, err
	}
	if cfg.Keystore.FetchURL == "" {
		return nil, usagef("no vendor directory: set keystore.fetch_url in the configuration, or give --url")
	}
	return vendorOf(cfg.Keystore)
}

// readSerials reads a list of serials, one a line (# comments, blank
// lines skipped); "-" is standard input.
func readSerials(path string, std stdio) ([]string, error) {
	var r io.Reader = std.in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !keystore.ValidSerial(line) {
			return nil, fmt.Errorf("%s line %d: %q is not a serial (letters, digits, '.', '_', '-', at most 64)", path, n, line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// expandDirs replaces each directory among paths by the regular files in
// it, sorted (dot files and subdirectories left out).
func expandDirs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			out = append(out, p) // import says what is wrong with it
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var files []string
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no certificate files in it", p)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}
