package sztp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// treeNode is one line of an RFC 8340 tree diagram.
type treeNode struct {
	name      string
	kind      kind
	typeName  string
	mandatory bool
	key       string
	children  []*treeNode
}

func (n *treeNode) child(name string) *treeNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseTree reads a tree file (RFC 8340) into nodes by depth. Choices and
// cases are dropped (they have no encoding); rpcs, inputs and outputs
// become containers.
func parseTree(t *testing.T, path string) *treeNode {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := &treeNode{name: "/"}
	type level struct {
		col  int
		node *treeNode
	}
	stack := []level{{-1, root}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		col := strings.Index(line, "+--")
		if col < 0 {
			continue
		}
		for stack[len(stack)-1].col >= col {
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1].node
		n, skip := parseTreeLine(t, line[col+3:])
		if skip { // a choice or a case: its children belong to the parent
			stack = append(stack, level{col, parent})
			continue
		}
		parent.children = append(parent.children, n)
		stack = append(stack, level{col, n})
	}
	return root
}

// parseTreeLine reads what follows "+--": flags, the name with its ? or *
// and a list's [key], then the type, then if-features.
func parseTreeLine(t *testing.T, s string) (*treeNode, bool) {
	t.Helper()
	for _, flag := range []string{"-x", "-w", "ro", "rw"} {
		if strings.HasPrefix(s, flag) {
			s = s[len(flag):]
			break
		}
	}
	if strings.HasPrefix(s, ":(") {
		return nil, true
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		t.Fatalf("cannot read tree line %q", s)
	}
	name := fields[0]
	if strings.HasPrefix(name, "(") {
		return nil, true
	}
	n := &treeNode{}
	suffix := ""
	if strings.HasSuffix(name, "?") || strings.HasSuffix(name, "*") {
		name, suffix = name[:len(name)-1], name[len(name)-1:]
	}
	n.name = name
	rest := fields[1:]
	list := false
	if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
		list = true
		var key []string
		for len(rest) > 0 {
			key = append(key, strings.Trim(rest[0], "[]"))
			done := strings.HasSuffix(rest[0], "]")
			rest = rest[1:]
			if done {
				break
			}
		}
		n.key = strings.TrimSpace(strings.Join(key, " "))
	}
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "{") {
		n.typeName = rest[0]
	}
	switch {
	case list:
		n.kind = kindList
	case suffix == "*":
		n.kind = kindLeafList
	case n.typeName != "":
		n.kind, n.mandatory = kindLeaf, suffix != "?"
	default:
		n.kind = kindContainer
	}
	return n, false
}

// compare checks a schema node against the tree's, both ways.
func compare(t *testing.T, path string, s *node, tr *treeNode) {
	t.Helper()
	if s.kind != tr.kind || s.typeName != tr.typeName || s.mandatory != tr.mandatory || s.key != tr.key {
		t.Errorf("%s: schema kind %d type %q mandatory %v key %q; the RFC's tree has kind %d type %q mandatory %v key %q",
			path, s.kind, s.typeName, s.mandatory, s.key, tr.kind, tr.typeName, tr.mandatory, tr.key)
	}
	for _, c := range s.children {
		tc := tr.child(c.name)
		if tc == nil {
			t.Errorf("%s/%s: in the schema, not in the RFC's tree", path, c.name)
			continue
		}
		compare(t, path+"/"+c.name, c, tc)
	}
	for _, tc := range tr.children {
		if s.child(tc.name) == nil {
			t.Errorf("%s/%s: in the RFC's tree, not in the schema", path, tc.name)
		}
	}
}

func TestSchemaMatchesRFCTrees(t *testing.T) {
	t.Parallel()
	ci := parseTree(t, "testdata/ietf-sztp-conveyed-info.tree")
	compare(t, "/redirect-information", redirectSchema(), ci.child("redirect-information"))
	compare(t, "/onboarding-information", onboardingSchema(), ci.child("onboarding-information"))
	bs := parseTree(t, "testdata/ietf-sztp-bootstrap-server.tree")
	get, report := bs.child("get-bootstrapping-data"), bs.child("report-progress")
	if get == nil || report == nil {
		t.Fatal("the RPCs are not in the tree")
	}
	compare(t, "/get-bootstrapping-data/input", getInputSchema(), get.child("input"))
	compare(t, "/get-bootstrapping-data/output", getOutputSchema(), get.child("output"))
	compare(t, "/report-progress/input", progressInputSchema(), report.child("input"))
}

// maximal are documents with every node of the trees present.
func maximal(t *testing.T) map[string][2][]byte {
	t.Helper()
	out := map[string][2][]byte{}
	add := func(name string, enc func(Format) ([]byte, error)) {
		j, err := enc(JSON)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		x, err := enc(XML)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = [2][]byte{j, x}
	}
	add("redirect-information", fullRedirect().Encode)
	add("onboarding-information", fullOnboarding().Encode)
	add("get-bootstrapping-data/input", fullGetInput().Encode)
	add("get-bootstrapping-data/output", fullGetOutput().Encode)
	add("report-progress/input", fullReport().Encode)
	return out
}

func TestEncodingsFollowTrees(t *testing.T) {
	t.Parallel()
	ci := parseTree(t, "testdata/ietf-sztp-conveyed-info.tree")
	bs := parseTree(t, "testdata/ietf-sztp-bootstrap-server.tree")
	trees := map[string]struct {
		module, ns string
		node       *treeNode
	}{
		"redirect-information":          {ModuleConveyedInfo, NamespaceConveyedInfo, ci.child("redirect-information")},
		"onboarding-information":        {ModuleConveyedInfo, NamespaceConveyedInfo, ci.child("onboarding-information")},
		"get-bootstrapping-data/input":  {ModuleBootstrapServer, NamespaceBootstrap, bs.child("get-bootstrapping-data").child("input")},
		"get-bootstrapping-data/output": {ModuleBootstrapServer, NamespaceBootstrap, bs.child("get-bootstrapping-data").child("output")},
		"report-progress/input":         {ModuleBootstrapServer, NamespaceBootstrap, bs.child("report-progress").child("input")},
	}
	for name, docs := range maximal(t) {
		tr := trees[name]
		t.Run(name+"/json", func(t *testing.T) {
			var top map[string]any
			if err := json.Unmarshal(docs[0], &top); err != nil {
				t.Fatal(err)
			}
			body, ok := top[tr.module+":"+tr.node.name]
			if !ok || len(top) != 1 {
				t.Fatalf("top-level member is not %s:%s: %s", tr.module, tr.node.name, docs[0])
			}
			seen := map[*treeNode]bool{}
			checkJSON(t, "/"+tr.node.name, tr.node, body, seen)
			allSeen(t, "/"+tr.node.name, tr.node, seen)
		})
		t.Run(name+"/xml", func(t *testing.T) {
			var root xmlElem
			if err := xml.Unmarshal(docs[1], &root); err != nil {
				t.Fatal(err)
			}
			if root.XMLName.Space != tr.ns || root.XMLName.Local != tr.node.name {
				t.Fatalf("document element %v, want %s in %s", root.XMLName, tr.node.name, tr.ns)
			}
			seen := map[*treeNode]bool{}
			checkXML(t, "/"+tr.node.name, tr.node, &root, tr.ns, seen)
			allSeen(t, "/"+tr.node.name, tr.node, seen)
		})
	}
}

func allSeen(t *testing.T, path string, n *treeNode, seen map[*treeNode]bool) {
	t.Helper()
	for _, c := range n.children {
		if !seen[c] {
			t.Errorf("%s/%s: in the tree, never written", path, c.name)
			continue
		}
		allSeen(t, path+"/"+c.name, c, seen)
	}
}

// checkJSON walks a decoded JSON value against the tree: every member is a
// node there, and every value has the JSON type RFC 7951 gives its YANG
// type.
func checkJSON(t *testing.T, path string, n *treeNode, v any, seen map[*treeNode]bool) {
	t.Helper()
	switch n.kind {
	case kindContainer:
		obj, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: a container is a JSON object, got %T", path, v)
			return
		}
		for name, cv := range obj {
			c := n.child(name)
			if c == nil {
				t.Errorf("%s/%s: member not in the RFC's tree", path, name)
				continue
			}
			seen[c] = true
			checkJSON(t, path+"/"+name, c, cv, seen)
		}
	case kindList, kindLeafList:
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			t.Errorf("%s: a list or leaf-list is a non-empty JSON array, got %v", path, v)
			return
		}
		for _, e := range arr {
			inner := *n
			inner.kind = map[kind]kind{kindList: kindContainer, kindLeafList: kindLeaf}[n.kind]
			checkJSON(t, path, &inner, e, seen)
		}
	default:
		checkJSONLeaf(t, path, n, v)
	}
}

func checkJSONLeaf(t *testing.T, path string, n *treeNode, v any) {
	t.Helper()
	switch n.typeName {
	case "empty":
		if arr, ok := v.([]any); !ok || len(arr) != 1 || arr[0] != nil {
			t.Errorf("%s: type empty is [null] in JSON, got %v", path, v)
		}
	case "inet:port-number":
		if f, ok := v.(float64); !ok || f != float64(int(f)) || f < 0 || f > 65535 {
			t.Errorf("%s: a port number is a JSON number, got %v", path, v)
		}
	default:
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: a %s is a JSON string, got %T", path, n.typeName, v)
			return
		}
		checkLexical(t, path, n, s, true)
	}
}

// checkLexical checks a leaf's text against its type.
func checkLexical(t *testing.T, path string, n *treeNode, s string, inJSON bool) {
	t.Helper()
	switch n.typeName {
	case "binary", "cms", "script":
		if _, err := base64.StdEncoding.DecodeString(s); err != nil || s == "" {
			t.Errorf("%s: %s is base64, got %q", path, n.typeName, s)
		}
	case "yang:hex-string":
		if !regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$`).MatchString(s) {
			t.Errorf("%s: hex-string is colon-separated octets, got %q", path, s)
		}
	case "identityref":
		want := "sha-256"
		if inJSON {
			want = ModuleConveyedInfo + ":sha-256"
		}
		if s != want {
			t.Errorf("%s: identityref %q, want %q", path, s, want)
		}
	case "inet:port-number":
		if p, err := strconv.Atoi(s); err != nil || p < 0 || p > 65535 {
			t.Errorf("%s: port %q", path, s)
		}
	case "enumeration":
		all := append([]string{"merge", "replace", "minimal", "verbose"}, ProgressTypes()...)
		if !slices.Contains(all, s) {
			t.Errorf("%s: enumeration value %q unknown", path, s)
		}
	}
}

// xmlElem is any element, for walking XML generically.
type xmlElem struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xmlElem  `xml:",any"`
	Text     string     `xml:",chardata"`
}

func checkXML(t *testing.T, path string, n *treeNode, e *xmlElem, ns string, seen map[*treeNode]bool) {
	t.Helper()
	if n.kind == kindLeaf || n.kind == kindLeafList {
		if len(e.Children) > 0 {
			t.Errorf("%s: a leaf holds elements", path)
		}
		if n.typeName == "empty" {
			if strings.TrimSpace(e.Text) != "" {
				t.Errorf("%s: type empty has no content, got %q", path, e.Text)
			}
			return
		}
		checkLexical(t, path, n, e.Text, false)
		return
	}
	counts := map[string]int{}
	for i := range e.Children {
		c := &e.Children[i]
		if c.XMLName.Space != ns {
			t.Errorf("%s/%s: namespace %q, want %q", path, c.XMLName.Local, c.XMLName.Space, ns)
		}
		tc := n.child(c.XMLName.Local)
		if tc == nil {
			t.Errorf("%s/%s: element not in the RFC's tree", path, c.XMLName.Local)
			continue
		}
		seen[tc] = true
		counts[tc.name]++
		if tc.kind != kindList && tc.kind != kindLeafList && counts[tc.name] > 1 {
			t.Errorf("%s/%s: repeated, but it is not a list", path, tc.name)
		}
		inner := *tc
		if tc.kind == kindList {
			inner.kind = kindContainer
		}
		checkXML(t, path+"/"+tc.name, &inner, c, ns, seen)
	}
	if bytes.TrimSpace([]byte(e.Text)) != nil && len(bytes.TrimSpace([]byte(e.Text))) > 0 {
		t.Errorf("%s: text in a container: %q", path, e.Text)
	}
}
