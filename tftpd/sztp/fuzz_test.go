package sztp

import (
	"reflect"
	"testing"
)

// FuzzDecode feeds bytes to every decoder in both encodings: no panic, and
// whatever decodes encodes again and decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, enc := range []interface{ Encode(Format) ([]byte, error) }{fullRedirect(), fullOnboarding(), fullGetInput(), fullGetOutput(), fullReport()} {
		for _, fm := range []Format{JSON, XML} {
			b, err := enc.Encode(fm)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, fm == XML)
		}
	}
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">&a;</input>`), true)
	f.Add([]byte(`{"ietf-sztp-bootstrap-server:input":{"signed-data-preferred":[null]}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, isXML bool) {
		fm := JSON
		if isXML {
			fm = XML
		}
		if c, err := DecodeConveyedInformation(data, fm); err == nil {
			again(t, c, fm, func(b []byte) (any, error) { return DecodeConveyedInformation(b, fm) })
		}
		if in, err := DecodeGetBootstrappingDataInput(data, fm); err == nil {
			again(t, in, fm, func(b []byte) (any, error) { return DecodeGetBootstrappingDataInput(b, fm) })
		}
		if out, err := DecodeGetBootstrappingDataOutput(data, fm); err == nil {
			again(t, out, fm, func(b []byte) (any, error) { return DecodeGetBootstrappingDataOutput(b, fm) })
		}
		if r, err := DecodeReportProgressInput(data, fm); err == nil {
			again(t, r, fm, func(b []byte) (any, error) { return DecodeReportProgressInput(b, fm) })
		}
	})
}

func again(t *testing.T, v interface{ Encode(Format) ([]byte, error) }, fm Format, dec func([]byte) (any, error)) {
	t.Helper()
	b, err := v.Encode(fm)
	if err != nil {
		t.Fatalf("decoded but does not encode: %v", err)
	}
	got, err := dec(b)
	if err != nil {
		t.Fatalf("re-encoded document does not decode: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip changed the value:\n%+v\n%+v", got, v)
	}
}
