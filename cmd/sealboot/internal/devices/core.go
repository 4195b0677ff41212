package devices

import (
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"
)

// Core returns a zapcore.Core that hands every entry carrying an event
// field to the state. Tee it with the output core
// (zapcore.NewTee(out, st.Core())): it is enabled at Info and above
// whatever the output's level, so the state sees every event even when
// log.level is warn or error, and the output's level or sampling never
// hides an event from it. It writes nothing.
func (s *State) Core() zapcore.Core { return &tap{s: s} }

type tap struct {
	s      *State
	fields []zapcore.Field // from With
}

func (t *tap) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

func (t *tap) With(fields []zapcore.Field) zapcore.Core {
	return &tap{s: t.s, fields: append(t.fields[:len(t.fields):len(t.fields)], fields...)}
}

func (t *tap) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if t.Enabled(ent.Level) {
		return ce.AddCore(ent, t)
	}
	return ce
}

func (t *tap) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ev := Event{Time: ent.Time}
	found := read(&ev, t.fields)
	if read(&ev, fields) || found {
		t.s.Apply(ev)
	}
	return nil
}

func (t *tap) Sync() error { return nil }

// read fills ev from fields and says whether one of them was the event.
func read(ev *Event, fields []zapcore.Field) (found bool) {
	for i := range fields {
		f := &fields[i]
		switch f.Key {
		case "event":
			ev.Name, found = text(f), true
		case "serial":
			ev.Serial = text(f)
		case "outcome":
			ev.Outcome = text(f)
		case "state":
			ev.State = text(f)
		case "reason":
			ev.Reason = text(f)
		case "ip":
			ev.IP = text(f)
		case "remote":
			ev.Remote = text(f)
		case "mac":
			ev.MAC = text(f)
		case "file":
			ev.File = text(f)
		case "bootfile":
			ev.Bootfile = text(f)
		case "vendor":
			ev.Vendor = text(f)
		case "model":
			ev.Model = text(f)
		case "relay":
			ev.Relay = text(f)
		case "circuit_id":
			ev.CircuitID = text(f)
		case "fingerprint":
			ev.Fingerprint = text(f)
		case "key_type":
			ev.KeyType = text(f)
		case "client":
			ev.Client = text(f)
		case "family":
			ev.Family = text(f)
		case "bytes":
			ev.Bytes = f.Integer
		case "image":
			ev.Image = f.Type == zapcore.BoolType && f.Integer == 1
		}
	}
	return found
}

// text is a field's value as a string, for the types events use.
func text(f *zapcore.Field) (s string) {
	defer func() {
		if recover() != nil { // a Stringer that panics on a nil receiver
			s = ""
		}
	}()
	switch f.Type {
	case zapcore.StringType:
		return f.String
	case zapcore.StringerType:
		return f.Interface.(fmt.Stringer).String()
	case zapcore.ErrorType:
		return f.Interface.(error).Error()
	case zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type:
		return strconv.FormatInt(f.Integer, 10)
	case zapcore.DurationType:
		return time.Duration(f.Integer).String()
	case zapcore.BoolType:
		return strconv.FormatBool(f.Integer == 1)
	}
	return ""
}
