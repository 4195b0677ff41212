package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkYAML parses data and reports, with line numbers, syntax errors,
// unknown keys, duplicate keys and sections that are not mappings. viper
// alone would silently ignore a misspelled key.
func checkYAML(name string, data []byte, sch *schema) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return syntaxError(name, data, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file: all defaults
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: the configuration must be a mapping of keys to values", name, root.Line)
	}
	w := walker{file: name, known: sch.all()}
	w.mapping(root, "", sch)
	return errors.Join(w.errs...)
}

type walker struct {
	file  string
	known []string
	errs  []error
}

func (w *walker) errorf(line int, format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf("%s:%d: %s", w.file, line, fmt.Sprintf(format, args...)))
}

// mapping checks the keys of node, a mapping at path (dotted; list elements
// as "list[i]") against sch.
func (w *walker) mapping(node *yaml.Node, path string, sch *schema) {
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], node.Content[i+1]
		rel := k.Value
		full := join(path, rel)
		if first, dup := seen[rel]; dup {
			w.errorf(k.Line, "key %q appears twice (first on line %d)", full, first)
			continue
		}
		seen[rel] = k.Line
		switch {
		case sch.sections[rel] != nil:
			if val.Kind == yaml.MappingNode {
				w.mapping(val, full, sch.sections[rel])
			} else if !isNull(val) {
				w.errorf(val.Line, "%s must be a section of keys, not a value", full)
			}
		case sch.lists[rel] != nil:
			w.list(val, full, sch.lists[rel])
		case sch.leaves[rel] == durationType:
			w.duration(val, full)
		case sch.leaves[rel] != nil:
		default:
			hint := suggest(schemaKey(full), w.known)
			if hint != "" {
				w.errorf(k.Line, "unknown key %q (did you mean %q?)", full, hint)
			} else {
				w.errorf(k.Line, "unknown key %q", full)
			}
		}
	}
}

func (w *walker) list(node *yaml.Node, path string, el *schema) {
	if isNull(node) {
		return
	}
	if node.Kind != yaml.SequenceNode {
		w.errorf(node.Line, "%s must be a list", path)
		return
	}
	for i, item := range node.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.MappingNode {
			w.errorf(item.Line, "%s must be a section of keys", p)
			continue
		}
		w.mapping(item, p, el)
	}
}

// duration reports a duration written as a bare number: YAML's
// "timeout: 5" would be 5 nanoseconds (numberToDuration refuses it too,
// but only the first one and without its line).
func (w *walker) duration(node *yaml.Node, path string) {
	if node.Kind != yaml.ScalarNode || node.Tag != "!!int" && node.Tag != "!!float" {
		return
	}
	if f, err := strconv.ParseFloat(node.Value, 64); err == nil && f == 0 {
		return // 0 is 0 in any unit
	}
	v := node.Value
	w.errorf(node.Line, "%s: %s has no unit (write e.g. %ss, %sms or %sm)", path, v, v, v, v)
}

// syntaxError gives a YAML syntax error the line it is on, after the file
// name as every other error. The YAML parser's own line is not always that
// line: for its second stage's errors ("did not find expected key") it
// counts from 0 and names where the enclosing construct starts. The line
// is the first one at which the file, cut there, fails to parse with the
// same problem.
func syntaxError(name string, data []byte, err error) error {
	msg, line := splitYAMLError(err)
	lines := strings.SplitAfter(string(data), "\n")
	for k := 1; k <= len(lines); k++ {
		var doc yaml.Node
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &doc)
		if perr == nil {
			continue
		}
		if m, _ := splitYAMLError(perr); m == msg {
			line = k
			break
		}
	}
	return fmt.Errorf("%s:%d: YAML syntax: %s", name, line, msg)
}

// splitYAMLError splits "yaml: line N: problem" into the problem and N (1
// when absent).
func splitYAMLError(err error) (msg string, line int) {
	msg, line = strings.TrimPrefix(err.Error(), "yaml: "), 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, text, ok := strings.Cut(rest, ": "); ok {
			if l, cerr := strconv.Atoi(n); cerr == nil {
				return text, l
			}
		}
	}
	return msg, line
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// schemaKey turns "dhcp.v4.subnets[2].pool" into "dhcp.v4.subnets[].pool",
// the form suggestions are made from.
func schemaKey(path string) string {
	var b strings.Builder
	skip := false
	for _, r := range path {
		switch {
		case r == '[':
			skip = true
			b.WriteString("[]")
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}
