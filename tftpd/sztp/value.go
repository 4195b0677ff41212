package sztp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Error is a document that does not follow the schema, with what RFC 8040
// section 7 needs to report it: the error-tag, the path of the offending
// node, and a message. Its text is safe to send: it names schema nodes,
// never values.
type Error struct {
	Tag     string // malformed-message, unknown-element, missing-element, invalid-value, bad-element
	Path    string // /module:top/child/...
	Message string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Tag + ": " + e.Message
	}
	return e.Tag + " at " + e.Path + ": " + e.Message
}

// RFC 8040 section 7 error tags this package reports.
const (
	TagMalformed      = "malformed-message"
	TagUnknownElement = "unknown-element"
	TagMissingElement = "missing-element"
	TagInvalidValue   = "invalid-value"
)

func errAt(tag, path, format string, args ...any) *Error {
	return &Error{Tag: tag, Path: path, Message: fmt.Sprintf(format, args...)}
}

// object is a decoded container or list entry: child name to value.
// Values are string (string, enumeration, inet:host, inet:uri, and an
// identityref's identity name), []byte (binary, hex-string), bool (empty),
// int (port), []any (leaf-list), []object (list) and object (container).
type object map[string]any

// parseLeaf checks the lexical form of a leaf value (the same in JSON
// strings and XML text) and returns its value.
func parseLeaf(n *node, s, path string) (any, *Error) {
	switch n.typ {
	case typeString:
		return s, nil
	case typeBinary:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errAt(TagInvalidValue, path, "%s is not base64", n.typeName)
		}
		return b, nil
	case typeEnum:
		for _, e := range n.enum {
			if s == e {
				return s, nil
			}
		}
		return nil, errAt(TagInvalidValue, path, "not one of the enumeration's values")
	case typeIdentityref:
		local := s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			local = s[i+1:]
		}
		for _, e := range n.enum {
			if local == e {
				return local, nil
			}
		}
		return nil, errAt(TagInvalidValue, path, "not a known identity")
	case typeHexString:
		return parseHexString(s, path)
	case typePort:
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return nil, errAt(TagInvalidValue, path, "not a port number (0 to 65535)")
		}
		return int(p), nil
	case typeHost:
		if !validHost(s) {
			return nil, errAt(TagInvalidValue, path, "not an IP address or domain name")
		}
		return s, nil
	case typeURI:
		if u, err := url.Parse(s); err != nil || u.Scheme == "" {
			return nil, errAt(TagInvalidValue, path, "not an absolute URI")
		}
		return s, nil
	}
	return nil, errAt(TagInvalidValue, path, "no value expected")
}

// parseHexString reads yang:hex-string: octets as two hex digits, joined
// by colons (RFC 6991).
func parseHexString(s, path string) ([]byte, *Error) {
	if s == "" {
		return []byte{}, nil
	}
	parts := strings.Split(s, ":")
	out := make([]byte, len(parts))
	for i, p := range parts {
		if len(p) != 2 {
			return nil, errAt(TagInvalidValue, path, "not a hex-string (two hex digits per octet, colon-separated)")
		}
		b, err := hex.DecodeString(p)
		if err != nil {
			return nil, errAt(TagInvalidValue, path, "not a hex-string (two hex digits per octet, colon-separated)")
		}
		out[i] = b[0]
	}
	return out, nil
}

// formatHexString writes yang:hex-string.
func formatHexString(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

// validHost accepts what inet:host allows: an IPv4 or IPv6 address (with
// an optional zone) or a domain name (RFC 6991).
func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// formatLeaf is the lexical form of a value, for XML text (JSON uses
// these too, except for numbers and empty).
func formatLeaf(n *node, v any, module string, qualifyIdentity bool) string {
	switch n.typ {
	case typeBinary:
		return base64.StdEncoding.EncodeToString(v.([]byte))
	case typeHexString:
		return formatHexString(v.([]byte))
	case typePort:
		return strconv.Itoa(v.(int))
	case typeIdentityref:
		if qualifyIdentity {
			return module + ":" + v.(string)
		}
		return v.(string)
	case typeEmpty:
		return ""
	}
	return v.(string)
}

// checkMandatory reports the first mandatory child missing from obj.
func checkMandatory(n *node, obj object, path string) *Error {
	for _, c := range n.children {
		if _, ok := obj[c.name]; !ok && c.mandatory {
			return errAt(TagMissingElement, path+"/"+c.name, "mandatory node is missing")
		}
	}
	return nil
}

// checkKeys reports list entries that lack their key or repeat one.
func checkKeys(n *node, entries []object, path string) *Error {
	if n.key == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range entries {
		k := fmt.Sprint(e[n.key])
		if seen[k] {
			return errAt(TagInvalidValue, path, "two entries with the same %s", n.key)
		}
		seen[k] = true
	}
	return nil
}

// validate checks a value tree built from Go values before it is written:
// mandatory nodes, list keys, and that every leaf's lexical form reads
// back as its type, so that nothing written breaks the schema.
func validate(n *node, obj object, path string) error {
	if err := checkMandatory(n, obj, path); err != nil {
		return err
	}
	for _, c := range n.children {
		v, ok := obj[c.name]
		if !ok {
			continue
		}
		cpath := path + "/" + c.name
		var err error
		switch c.kind {
		case kindContainer:
			err = validate(c, v.(object), cpath)
		case kindList:
			entries := v.([]object)
			for _, e := range entries {
				if err = validate(c, e, cpath); err != nil {
					break
				}
			}
			if err == nil {
				err = toError(checkKeys(c, entries, cpath))
			}
		case kindLeafList:
			for _, e := range v.([]any) {
				if err = validLeaf(c, e, cpath); err != nil {
					break
				}
			}
		default:
			err = validLeaf(c, v, cpath)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func validLeaf(n *node, v any, path string) error {
	if n.typ == typeEmpty {
		return nil
	}
	_, err := parseLeaf(n, formatLeaf(n, v, "", false), path)
	return toError(err)
}

// toError keeps a nil *Error a nil error.
func toError(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}
