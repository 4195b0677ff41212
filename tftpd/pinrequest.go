package tftpd

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"unsafe"
)

// RFC 1350 (section 5) makes the transfer mode case-insensitive, and RFC
// 2347 (section "Packet Formats") option names too. pin/tftp compares both
// as the client sent them: "BLKSIZE" would be ignored (the client then gets
// 512-byte blocks it did not ask for) and "NETASCII" served as octet. It
// keeps both in unexported fields of the transfer it hands the read
// handler, and offers no way to see or set them; pinRequest reaches them by
// reflection, for the pin/tftp version go.mod pins. TestRequestFields fails
// if that version lays its transfer out differently.
type pinRequest struct {
	mode reflect.Value // string
	opts reflect.Value // map[string]string
}

// requestOf finds the mode and options of the transfer rf.
func requestOf(rf io.ReaderFrom) (pinRequest, error) {
	v := reflect.ValueOf(rf)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return pinRequest{}, fmt.Errorf("pin/tftp transfer is a %T", rf)
	}
	e := v.Elem()
	mode, opts := e.FieldByName("mode"), e.FieldByName("opts")
	if mode.Kind() != reflect.String || opts.Kind() != reflect.Map ||
		opts.Type().Key().Kind() != reflect.String || opts.Type().Elem().Kind() != reflect.String {
		return pinRequest{}, fmt.Errorf("pin/tftp transfer %T has no mode and opts fields of the expected types", rf)
	}
	return pinRequest{mode: settable(mode), opts: settable(opts)}, nil
}

// settable makes an unexported field writable.
func settable(f reflect.Value) reflect.Value {
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// normalize lower-cases the mode and the option names, and returns the
// mode.
func (r pinRequest) normalize() string {
	mode := strings.ToLower(r.mode.String())
	r.mode.SetString(mode)
	if r.opts.IsNil() {
		return mode
	}
	for _, k := range r.opts.MapKeys() {
		name := k.String()
		if lower := strings.ToLower(name); lower != name {
			val := r.opts.MapIndex(k)
			r.opts.SetMapIndex(k, reflect.Value{})
			r.opts.SetMapIndex(reflect.ValueOf(lower).Convert(k.Type()), val)
		}
	}
	return mode
}

// validMode reports the transfer modes of RFC 1350 that a config can go
// out in: octet, and netascii (pin/tftp converts line ends). "mail" is
// obsolete and anything else is not TFTP.
func validMode(mode string) bool { return mode == "octet" || mode == "netascii" }
