// Package configs holds the configuration files shipped with sealboot:
// minimal.yaml, a starting point, and reference.yaml, every key with its
// default and meaning. Both are embedded (as immutable strings) so tests and
// `sealboot check` can read them from the binary.
package configs

import _ "embed"

// Minimal is configs/minimal.yaml.
//
//go:embed minimal.yaml
var Minimal string

// Reference is configs/reference.yaml.
//
//go:embed reference.yaml
var Reference string
