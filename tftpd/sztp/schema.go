package sztp

// The two YANG modules of RFC 8572, as the schema the JSON (RFC 7951) and
// XML (RFC 7950) codecs of this package walk: every member or element
// name, its kind, its type and whether it is mandatory come from here, and
// TestSchemaMatchesRFCTrees checks this against the RFC's tree diagrams
// (sections 6.1 and 7.1).

// Module names and XML namespaces (RFC 8572 sections 6.3 and 7.3).
const (
	ModuleConveyedInfo    = "ietf-sztp-conveyed-info"
	ModuleBootstrapServer = "ietf-sztp-bootstrap-server"
	NamespaceConveyedInfo = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
	NamespaceBootstrap    = "urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"
)

type kind int

const (
	kindContainer kind = iota
	kindList
	kindLeaf
	kindLeafList
)

// leafType is a YANG type as it is encoded: the name the tree diagrams
// print and how a value is checked.
type leafType int

const (
	typeNone        leafType = iota
	typeString               // string
	typeBinary               // binary, and typedefs of it (cms, script): base64
	typeEmpty                // empty: [null] in JSON, an empty element in XML
	typePort                 // inet:port-number, uint16 0..65535
	typeEnum                 // enumeration
	typeHexString            // yang:hex-string: "ab:cd:..."
	typeIdentityref          // identityref: "module:name" or "name"
	typeHost                 // inet:host
	typeURI                  // inet:uri
)

// node is one schema node.
type node struct {
	name      string
	kind      kind
	typ       leafType
	typeName  string   // as the tree diagram prints it: cms, script, inet:host, ...
	enum      []string // the enumeration's values, or the identities an identityref may name
	mandatory bool
	key       string // a list's key leaf, whose values must be unique
	children  []*node
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func container(name string, children ...*node) *node {
	return &node{name: name, kind: kindContainer, children: children}
}

func list(name string, children ...*node) *node {
	return &node{name: name, kind: kindList, children: children}
}

func keyed(key string, n *node) *node {
	n.key = key
	return n
}

func leaf(name string, t leafType, typeName string, mandatory bool, enum ...string) *node {
	return &node{name: name, kind: kindLeaf, typ: t, typeName: typeName, mandatory: mandatory, enum: enum}
}

func leafList(name string, t leafType, typeName string) *node {
	return &node{name: name, kind: kindLeafList, typ: t, typeName: typeName}
}

// redirectSchema and onboardingSchema are the two cases of the
// information-type choice of yang-data conveyed-information (RFC 8572
// section 6.3).
func redirectSchema() *node {
	return container("redirect-information",
		keyed("address", list("bootstrap-server",
			leaf("address", typeHost, "inet:host", true),
			leaf("port", typePort, "inet:port-number", false),
			leaf("trust-anchor", typeBinary, "cms", false),
		)),
	)
}

func onboardingSchema() *node {
	return container("onboarding-information",
		container("boot-image",
			leaf("os-name", typeString, "string", false),
			leaf("os-version", typeString, "string", false),
			leafList("download-uri", typeURI, "inet:uri"),
			keyed("hash-algorithm", list("image-verification",
				leaf("hash-algorithm", typeIdentityref, "identityref", true, "sha-256"),
				leaf("hash-value", typeHexString, "yang:hex-string", true),
			)),
		),
		leaf("configuration-handling", typeEnum, "enumeration", false, "merge", "replace"),
		leaf("pre-configuration-script", typeBinary, "script", false),
		leaf("configuration", typeBinary, "binary", false),
		leaf("post-configuration-script", typeBinary, "script", false),
	)
}

// The RPCs of ietf-sztp-bootstrap-server (RFC 8572 section 7.3).
func getInputSchema() *node {
	return container("input",
		leaf("signed-data-preferred", typeEmpty, "empty", false),
		leaf("hw-model", typeString, "string", false),
		leaf("os-name", typeString, "string", false),
		leaf("os-version", typeString, "string", false),
		leaf("nonce", typeBinary, "binary", false),
	)
}

func getOutputSchema() *node {
	return container("output",
		leaf("reporting-level", typeEnum, "enumeration", false, "minimal", "verbose"),
		leaf("conveyed-information", typeBinary, "cms", true),
		leaf("owner-certificate", typeBinary, "cms", false),
		leaf("ownership-voucher", typeBinary, "cms", false),
	)
}

// ProgressTypes returns the values of report-progress's progress-type, in
// the module's order.
func ProgressTypes() []string {
	return []string{
		"bootstrap-initiated", "parsing-initiated", "parsing-warning", "parsing-error", "parsing-complete",
		"boot-image-initiated", "boot-image-warning", "boot-image-error", "boot-image-mismatch",
		"boot-image-installed-rebooting", "boot-image-complete",
		"pre-script-initiated", "pre-script-warning", "pre-script-error", "pre-script-complete",
		"config-initiated", "config-warning", "config-error", "config-complete",
		"post-script-initiated", "post-script-warning", "post-script-error", "post-script-complete",
		"bootstrap-warning", "bootstrap-error", "bootstrap-complete", "informational",
	}
}

func progressInputSchema() *node {
	return container("input",
		leaf("progress-type", typeEnum, "enumeration", true, ProgressTypes()...),
		leaf("message", typeString, "string", false),
		container("ssh-host-keys",
			list("ssh-host-key",
				leaf("algorithm", typeString, "string", true),
				leaf("key-data", typeBinary, "binary", true),
			),
		),
		container("trust-anchor-certs",
			leafList("trust-anchor-cert", typeBinary, "cms"),
		),
	)
}
