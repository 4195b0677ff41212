package sztp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// maxXMLTokens bounds the work one XML document can cause.
const maxXMLTokens = 100000

// xmlReader wraps the decoder with a token budget.
type xmlReader struct {
	d      *xml.Decoder
	tokens int
}

func (r *xmlReader) token(path string) (xml.Token, error) {
	r.tokens++
	if r.tokens > maxXMLTokens {
		return nil, errAt(TagMalformed, path, "too many XML tokens")
	}
	tok, err := r.d.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, errAt(TagMalformed, path, "not well-formed XML")
	}
	return tok, nil
}

// decodeXML reads a document in the RFC 7950 XML encoding: one top-level
// element, in namespace ns, named like one of tops. Every element below
// must be in the same namespace and known to the schema.
func decodeXML(data []byte, ns string, tops ...*node) (*node, object, error) {
	r := &xmlReader{d: xml.NewDecoder(bytes.NewReader(data))}
	r.d.Strict = true
	start, err := r.nextStart("")
	if err != nil {
		return nil, nil, err
	}
	var top *node
	for _, t := range tops {
		if start.Name.Local == t.name {
			top = t
		}
	}
	if top == nil || start.Name.Space != ns {
		return nil, nil, errAt(TagUnknownElement, "/"+clip(start.Name.Local), "not a top-level node of %s", ns)
	}
	obj, err := r.container(top, ns, "/"+top.name)
	if err != nil {
		return nil, nil, err
	}
	for {
		tok, err := r.token("")
		if errors.Is(err, io.EOF) {
			return top, obj, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if !ignorable(tok) {
			return nil, nil, errAt(TagMalformed, "", "data after the document element")
		}
	}
}

// ignorable is what may stand between elements: white space, comments,
// processing instructions.
func ignorable(tok xml.Token) bool {
	switch t := tok.(type) {
	case xml.CharData:
		return len(bytes.TrimSpace(t)) == 0
	case xml.Comment, xml.ProcInst, xml.Directive:
		return true
	}
	return false
}

// nextStart skips to the next start element.
func (r *xmlReader) nextStart(path string) (xml.StartElement, error) {
	for {
		tok, err := r.token(path)
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, errAt(TagMalformed, path, "no document element")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
		if !ignorable(tok) {
			return xml.StartElement{}, errAt(TagMalformed, path, "text outside an element")
		}
	}
}

// container reads the children of an element already started, up to its
// end.
func (r *xmlReader) container(n *node, ns, path string) (object, error) {
	obj := object{}
	for {
		tok, err := r.token(path)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errAt(TagMalformed, path, "the XML ends early")
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if err := checkMandatory(n, obj, path); err != nil {
				return nil, err
			}
			return obj, nil
		case xml.StartElement:
			if err := r.child(n, obj, t, ns, path); err != nil {
				return nil, err
			}
		default:
			if !ignorable(tok) {
				return nil, errAt(TagMalformed, path, "text in a container")
			}
		}
	}
}

func (r *xmlReader) child(n *node, obj object, t xml.StartElement, ns, path string) error {
	c := n.child(t.Name.Local)
	cpath := path + "/" + clip(t.Name.Local)
	if c == nil || t.Name.Space != ns {
		return errAt(TagUnknownElement, cpath, "not a node of %s", n.name)
	}
	switch c.kind {
	case kindContainer:
		if _, dup := obj[c.name]; dup {
			return errAt(TagMalformed, cpath, "the element appears twice")
		}
		v, err := r.container(c, ns, cpath)
		obj[c.name] = v
		return err
	case kindList:
		e, err := r.container(c, ns, cpath)
		if err != nil {
			return err
		}
		entries, _ := obj[c.name].([]object)
		entries = append(entries, e)
		obj[c.name] = entries
		return toError(checkKeys(c, entries, cpath))
	case kindLeafList:
		v, err := r.leaf(c, cpath)
		if err != nil {
			return err
		}
		values, _ := obj[c.name].([]any)
		obj[c.name] = append(values, v)
		return nil
	}
	if _, dup := obj[c.name]; dup {
		return errAt(TagMalformed, cpath, "the element appears twice")
	}
	v, err := r.leaf(c, cpath)
	obj[c.name] = v
	return err
}

// leaf reads a leaf's text up to its end element.
func (r *xmlReader) leaf(n *node, path string) (any, error) {
	var text strings.Builder
	for {
		tok, err := r.token(path)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errAt(TagMalformed, path, "the XML ends early")
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if text.Len()+len(t) > 16<<20 {
				return nil, errAt(TagMalformed, path, "value too large")
			}
			text.Write(t)
		case xml.EndElement:
			if n.typ == typeEmpty {
				if strings.TrimSpace(text.String()) != "" {
					return nil, errAt(TagInvalidValue, path, "type empty has no content")
				}
				return true, nil
			}
			v, perr := parseLeaf(n, xmlLeafText(n, text.String()), path)
			if perr != nil {
				return nil, perr
			}
			return v, nil
		case xml.StartElement:
			return nil, errAt(TagInvalidValue, path, "a leaf holds no elements")
		}
	}
}

// xmlLeafText trims white space around values whose type has none.
func xmlLeafText(n *node, s string) string {
	switch n.typ {
	case typeString, typeURI:
		return s
	}
	return strings.TrimSpace(s)
}

// encodeXML writes the document with the module's namespace as default.
func encodeXML(ns string, top *node, obj object) []byte {
	var b bytes.Buffer
	b.WriteString("<" + top.name + ` xmlns="` + ns + `">`)
	xmlWriteChildren(&b, top, obj)
	b.WriteString("</" + top.name + ">")
	return b.Bytes()
}

func xmlWriteChildren(b *bytes.Buffer, n *node, obj object) {
	for _, c := range n.children {
		v, ok := obj[c.name]
		if !ok {
			continue
		}
		switch c.kind {
		case kindContainer:
			b.WriteString("<" + c.name + ">")
			xmlWriteChildren(b, c, v.(object))
			b.WriteString("</" + c.name + ">")
		case kindList:
			for _, e := range v.([]object) {
				b.WriteString("<" + c.name + ">")
				xmlWriteChildren(b, c, e)
				b.WriteString("</" + c.name + ">")
			}
		case kindLeafList:
			for _, e := range v.([]any) {
				xmlWriteLeaf(b, c, e)
			}
		default:
			xmlWriteLeaf(b, c, v)
		}
	}
}

func xmlWriteLeaf(b *bytes.Buffer, n *node, v any) {
	if n.typ == typeEmpty {
		b.WriteString("<" + n.name + "/>")
		return
	}
	b.WriteString("<" + n.name + ">")
	// An unprefixed identity resolves in the default namespace, the
	// module's own (RFC 7950 section 9.10.3).
	_ = xml.EscapeText(b, []byte(formatLeaf(n, v, "", false)))
	b.WriteString("</" + n.name + ">")
}
