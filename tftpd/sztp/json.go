package sztp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// decodeJSON reads a document in the RFC 7951 encoding whose single
// top-level member is "module:name" for one of tops, and returns which top
// it was and its content. Member names inside are the simple form (or, as
// a courtesy, qualified with the same module); duplicates and unknown
// members are refused.
func decodeJSON(data []byte, module string, tops ...*node) (*node, object, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := expectDelim(d, '{', ""); err != nil {
		return nil, nil, err
	}
	tok, err := d.Token()
	if err != nil {
		return nil, nil, syntaxError(err, "")
	}
	name, ok := tok.(string)
	if !ok {
		return nil, nil, errAt(TagMalformed, "", "the document is an empty object")
	}
	var top *node
	for _, t := range tops {
		if name == module+":"+t.name {
			top = t
		}
	}
	if top == nil {
		return nil, nil, errAt(TagUnknownElement, "/"+clip(name), "not a top-level node of %s", module)
	}
	obj, err := jsonContainer(d, top, module, "/"+name)
	if err != nil {
		return nil, nil, err
	}
	if err := expectDelim(d, '}', ""); err != nil {
		return nil, nil, errAt(TagMalformed, "", "the document holds more than one top-level member")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, nil, errAt(TagMalformed, "", "data after the document")
	}
	return top, obj, nil
}

// clip keeps a client's name short in an error path.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func syntaxError(err error, path string) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errAt(TagMalformed, path, "the JSON ends early")
	}
	return errAt(TagMalformed, path, "not JSON")
}

func expectDelim(d *json.Decoder, want json.Delim, path string) error {
	tok, err := d.Token()
	if err != nil {
		return syntaxError(err, path)
	}
	if got, ok := tok.(json.Delim); !ok || got != want {
		return errAt(TagInvalidValue, path, "expected %q", string(want))
	}
	return nil
}

func jsonContainer(d *json.Decoder, n *node, module, path string) (object, error) {
	if err := expectDelim(d, '{', path); err != nil {
		return nil, err
	}
	obj := object{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, syntaxError(err, path)
		}
		name := strings.TrimPrefix(tok.(string), module+":")
		c := n.child(name)
		if c == nil {
			return nil, errAt(TagUnknownElement, path+"/"+clip(name), "not a node of %s", n.name)
		}
		if _, dup := obj[name]; dup {
			return nil, errAt(TagMalformed, path+"/"+name, "the member appears twice")
		}
		if obj[name], err = jsonNode(d, c, module, path+"/"+name); err != nil {
			return nil, err
		}
	}
	if _, err := d.Token(); err != nil {
		return nil, syntaxError(err, path)
	}
	if err := checkMandatory(n, obj, path); err != nil {
		return nil, err
	}
	return obj, nil
}

func jsonNode(d *json.Decoder, n *node, module, path string) (any, error) {
	switch n.kind {
	case kindContainer:
		return jsonContainer(d, n, module, path)
	case kindList:
		if err := expectDelim(d, '[', path); err != nil {
			return nil, err
		}
		var entries []object
		for d.More() {
			e, err := jsonContainer(d, n, module, path)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		if _, err := d.Token(); err != nil {
			return nil, syntaxError(err, path)
		}
		if err := checkKeys(n, entries, path); err != nil {
			return nil, err
		}
		return entries, nil
	case kindLeafList:
		if err := expectDelim(d, '[', path); err != nil {
			return nil, err
		}
		var values []any
		for d.More() {
			v, err := jsonLeaf(d, n, path)
			if err != nil {
				return nil, err
			}
			values = append(values, v)
		}
		if _, err := d.Token(); err != nil {
			return nil, syntaxError(err, path)
		}
		return values, nil
	}
	return jsonLeaf(d, n, path)
}

// jsonLeaf reads one leaf value: a string for most types, a number for
// uint16, [null] for empty (RFC 7951 section 6).
func jsonLeaf(d *json.Decoder, n *node, path string) (any, error) {
	if n.typ == typeEmpty {
		if err := expectDelim(d, '[', path); err != nil {
			return nil, errAt(TagInvalidValue, path, "type empty is [null]")
		}
		if tok, err := d.Token(); err != nil || tok != nil {
			return nil, errAt(TagInvalidValue, path, "type empty is [null]")
		}
		if err := expectDelim(d, ']', path); err != nil {
			return nil, errAt(TagInvalidValue, path, "type empty is [null]")
		}
		return true, nil
	}
	tok, err := d.Token()
	if err != nil {
		return nil, syntaxError(err, path)
	}
	if n.typ == typePort {
		num, ok := tok.(json.Number)
		if !ok {
			return nil, errAt(TagInvalidValue, path, "a port number is a JSON number")
		}
		v, perr := parseLeaf(n, num.String(), path)
		if perr != nil {
			return nil, perr
		}
		return v, nil
	}
	s, ok := tok.(string)
	if !ok {
		return nil, errAt(TagInvalidValue, path, "a %s is a JSON string", n.typeName)
	}
	v, perr := parseLeaf(n, s, path)
	if perr != nil {
		return nil, perr
	}
	return v, nil
}

// encodeJSON writes {"module:top": {...}} with members in schema order.
func encodeJSON(module string, top *node, obj object) []byte {
	var b bytes.Buffer
	b.WriteString(`{"` + module + ":" + top.name + `":`)
	jsonWriteContainer(&b, top, obj, module)
	b.WriteByte('}')
	return b.Bytes()
}

func jsonWriteContainer(b *bytes.Buffer, n *node, obj object, module string) {
	b.WriteByte('{')
	first := true
	for _, c := range n.children {
		v, ok := obj[c.name]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(c.name) + ":")
		switch c.kind {
		case kindContainer:
			jsonWriteContainer(b, c, v.(object), module)
		case kindList:
			b.WriteByte('[')
			for i, e := range v.([]object) {
				if i > 0 {
					b.WriteByte(',')
				}
				jsonWriteContainer(b, c, e, module)
			}
			b.WriteByte(']')
		case kindLeafList:
			b.WriteByte('[')
			for i, e := range v.([]any) {
				if i > 0 {
					b.WriteByte(',')
				}
				jsonWriteLeaf(b, c, e, module)
			}
			b.WriteByte(']')
		default:
			jsonWriteLeaf(b, c, v, module)
		}
	}
	b.WriteByte('}')
}

func jsonWriteLeaf(b *bytes.Buffer, n *node, v any, module string) {
	switch n.typ {
	case typeEmpty:
		b.WriteString("[null]")
	case typePort:
		b.WriteString(strconv.Itoa(v.(int)))
	default:
		s, _ := json.Marshal(formatLeaf(n, v, module, true))
		b.Write(s)
	}
}
