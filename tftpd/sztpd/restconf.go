package sztpd

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/sealboot/sealboot/tftpd/sztp"
)

// Paths of the RESTCONF API (RFC 8040 sections 3.1 and 3.6; RFC 8572
// section 7.3).
const (
	pathHostMeta   = "/.well-known/host-meta"
	pathOperations = "/restconf/operations/"
	rpcGet         = "get-bootstrapping-data"
	rpcReport      = "report-progress"
	rpcPrefix      = sztp.ModuleBootstrapServer + ":"
)

// restconfError is one error of an RFC 8040 section 7.1 errors document.
type restconfError struct {
	status  int
	typ     string // transport, rpc, protocol, application
	tag     string
	path    string
	message string
}

// Error types (RFC 8040 section 7.1). Each tag goes with a type RFC 6241
// appendix A allows for it: malformed-message is rpc only.
const (
	typeTransport   = "transport"
	typeRPC         = "rpc"
	typeProtocol    = "protocol"
	typeApplication = "application"
)

// Error tags of RFC 8040 section 7 used here, beyond the data model's.
// The status that goes with each follows RFC 8040's table (section 7)
// except where HTTP has a more precise code that the table lacks: 415
// (invalid-value, RFC 8040 section 5.2 names the status, the table no tag)
// and 503 (resource-denied, the table's 409 has no retry semantics).
const (
	tagAccessDenied   = "access-denied"
	tagInvalidValue   = "invalid-value"
	tagTooBig         = "too-big"
	tagNotSupported   = "operation-not-supported"
	tagResourceDenied = "resource-denied"
	tagFailed         = "operation-failed"
	tagMalformed      = "malformed-message"
)

// writeError sends an RFC 8040 errors document in format f.
func writeError(w http.ResponseWriter, f sztp.Format, e restconfError) int {
	var body []byte
	if f == sztp.XML {
		var b bytes.Buffer
		b.WriteString(`<errors xmlns="urn:ietf:params:xml:ns:yang:ietf-restconf"><error>`)
		for _, kv := range [][2]string{{"error-type", e.typ}, {"error-tag", e.tag}, {"error-path", e.path}, {"error-message", e.message}} {
			if kv[1] == "" {
				continue
			}
			b.WriteString("<" + kv[0] + ">")
			_ = xml.EscapeText(&b, []byte(kv[1]))
			b.WriteString("</" + kv[0] + ">")
		}
		b.WriteString(`</error></errors>`)
		body = b.Bytes()
	} else {
		m := map[string]string{"error-type": e.typ, "error-tag": e.tag}
		if e.path != "" {
			m["error-path"] = e.path
		}
		if e.message != "" {
			m["error-message"] = e.message
		}
		body, _ = json.Marshal(map[string]any{"ietf-restconf:errors": map[string]any{"error": []any{m}}})
	}
	w.Header().Set("Content-Type", f.MediaType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
	return len(body)
}

// fromModel turns a data model error into a 400 (RFC 8040 section 7: every
// tag the model reports maps to 400). A body that does not parse is
// malformed-message, whose only error-type is rpc (RFC 6241 appendix A);
// an input that parses but breaks the schema is protocol, as in RFC 8040
// section 3.6.3's example (400 invalid-value, error-type protocol).
func fromModel(err error) restconfError {
	e := restconfError{status: http.StatusBadRequest, typ: typeRPC, tag: tagMalformed, message: "the request body does not follow the RPC's input"}
	if me, ok := err.(*sztp.Error); ok {
		e.tag, e.message = me.Tag, me.Message
		if me.Tag != sztp.TagMalformed {
			e.typ = typeProtocol
		}
		e.path = me.Path
	}
	return e
}

// mediaFormat maps a media type to a format. RFC 8040 names
// application/yang-data+json and +xml; the RFC 8572 examples print the
// drafts' application/yang.data+xml; plain JSON and XML are accepted too.
func mediaFormat(mt string) (sztp.Format, bool) {
	switch strings.ToLower(mt) {
	case "application/yang-data+json", "application/yang.data+json", "application/json":
		return sztp.JSON, true
	case "application/yang-data+xml", "application/yang.data+xml", "application/xml", "text/xml":
		return sztp.XML, true
	}
	return sztp.JSON, false
}

// requestFormat is the format of the body, from Content-Type; a request
// without a body needs none.
func requestFormat(r *http.Request) (sztp.Format, bool) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return sztp.JSON, true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return sztp.JSON, false
	}
	return mediaFormat(mt)
}

// responseFormat is the format to answer in (RFC 8040 section 5.2): the
// first acceptable type of Accept, else the request's format.
func responseFormat(r *http.Request, reqFormat sztp.Format) (sztp.Format, bool) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return reqFormat, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			return reqFormat, true
		}
		if f, ok := mediaFormat(mt); ok {
			return f, true
		}
	}
	return reqFormat, false
}

// hostMeta answers RESTCONF root discovery (RFC 8040 section 3.1).
func hostMeta(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body := `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">` + "\n" +
		`  <Link rel="restconf" href="/restconf"/>` + "\n" + `</XRD>` + "\n"
	w.Header().Set("Content-Type", "application/xrd+xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(body))
	}
}
