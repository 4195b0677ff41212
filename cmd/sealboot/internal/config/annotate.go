package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Annotate puts the source's name, and the line of the key when the file
// sets it, before every problem in err (a joined list of "key: problem"
// errors, as Validate returns): "sealboot.yaml:12: tftp.timeout: must be
// positive", one line each, so that an editor or grep finds every one.
func (src Source) Annotate(err error) error {
	if err == nil {
		return nil
	}
	lines := src.keyLines()
	var out []error
	for _, e := range flatten(err) {
		for _, text := range strings.Split(e.Error(), "\n") {
			if l, ok := lines[keyOf(text, lines)]; ok {
				out = append(out, fmt.Errorf("%s:%d: %s", src.Name(), l, text))
				continue
			}
			out = append(out, fmt.Errorf("%s: %s", src.Name(), text))
		}
	}
	return errors.Join(out...)
}

// keyOf is the key a problem starts with ("tftp.timeout: ..."), or the
// one after its component's name ("sztp: sztp.tls_cert: ...").
func keyOf(text string, lines map[string]int) string {
	first, rest, _ := strings.Cut(text, ": ")
	second, _, _ := strings.Cut(rest, ": ")
	if _, ok := lines[second]; ok {
		return second
	}
	return first
}

// flatten lists the errors joined in err, depth first.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// keyLines maps each key the file sets ("dhcp.v4.subnets[0].pool") to
// its line; nil when the file cannot be read or parsed.
func (src Source) keyLines() map[string]int {
	data := src.Data
	if src.File != "" {
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil
		}
		data = b
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	out := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				if _, dup := out[p]; !dup {
					out[p] = n.Content[i].Line
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out[p] = item.Line
				walk(item, p)
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}
