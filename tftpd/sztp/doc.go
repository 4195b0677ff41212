// Package sztp is the data model of Secure Zero Touch Provisioning (RFC
// 8572): the conveyed information a bootstrap server gives a device
// (redirect information or onboarding information, section 6) and the
// input and output of the bootstrap server's RPCs (get-bootstrapping-data
// and report-progress, section 7), read and written in JSON (RFC 7951) and
// XML (RFC 7950) with the modules' names and namespaces.
//
// Both encodings are driven by one schema, written from the YANG modules
// (schema.go) and checked against the RFC's tree diagrams by the tests.
// Decoding is strict: unknown members or elements, duplicates, wrong types,
// missing mandatory nodes and broken must statements are errors of type
// *Error, which carry the RFC 8040 error-tag and path a RESTCONF server
// reports.
package sztp
