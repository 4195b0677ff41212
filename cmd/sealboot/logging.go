package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// newLogger builds the process logger: JSON (for journald and log
// shippers) unless format is "console" or empty on a terminal. The returned
// level can be changed on reload.
func newLogger(level, format string, out zapcore.WriteSyncer, terminal bool) (*zap.Logger, zap.AtomicLevel, error) {
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, lvl, fmt.Errorf("log.level: %w", err)
	}
	if format == "" {
		format = "json"
		if terminal {
			format = "console"
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.SecondsDurationEncoder
	var encoder zapcore.Encoder
	switch format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		if !terminal {
			enc.EncodeLevel = zapcore.CapitalLevelEncoder
		}
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, lvl, fmt.Errorf("log.format: invalid format %q", format)
	}
	core := zapcore.NewCore(printable{encoder}, out, lvl)
	return zap.New(core, zap.ErrorOutput(out)), lvl, nil
}

// printable is an encoder that writes DEL and C1 controls in the message,
// strings, errors and Stringers as '?'. zap's encoders escape C0 only; the
// others come from devices (a DHCP model, a client's text), journald
// stores a line holding them as binary, which journalctl shows as "[blob
// data]" (the device's events hidden), and a terminal obeys a C1 CSI.
type printable struct{ zapcore.Encoder }

func (p printable) Clone() zapcore.Encoder { return printable{p.Encoder.Clone()} }

func (p printable) AddString(key, val string) { p.Encoder.AddString(key, printableText(val)) }

func (p printable) EncodeEntry(e zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	e.Message = printableText(e.Message)
	copied := false
	for i, f := range fields {
		text, ok := fieldText(f)
		if !ok || !strings.ContainsFunc(text, unprintable) {
			continue
		}
		if !copied { // the caller's fields stay as they were
			fields, copied = slices.Clone(fields), true
		}
		fields[i] = zap.String(f.Key, printableText(text))
	}
	return p.Encoder.EncodeEntry(e, fields)
}

// fieldText is the text a string, error or Stringer field writes.
func fieldText(f zapcore.Field) (text string, ok bool) {
	defer func() {
		if recover() != nil { // a Stringer that panics on a nil receiver: zap's own handling
			text, ok = "", false
		}
	}()
	switch f.Type {
	case zapcore.StringType:
		return f.String, true
	case zapcore.ErrorType:
		if err, isErr := f.Interface.(error); isErr && err != nil {
			return err.Error(), true
		}
	case zapcore.StringerType:
		if st, isStringer := f.Interface.(fmt.Stringer); isStringer && st != nil {
			return st.String(), true
		}
	}
	return "", false
}

func unprintable(r rune) bool { return r >= 0x7f && r <= 0x9f }

// printableText replaces DEL and C1 controls with '?'.
func printableText(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unprintable(r) {
			return '?'
		}
		return r
	}, s)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// packetLogging is how lines a packet can cause are rate-limited. Anyone
// on the provisioning segment can send packets, and one line each would
// let them flood the journal, which then drops the lines operators watch
// (journald rate-limits per service).
type packetLogging struct {
	// Tick and First: per logger, level and message, the first First
	// lines of each Tick are written and the rest dropped (zap's sampler).
	Tick  time.Duration
	First int
	// Window: the dropped lines are counted, and each Window one summary
	// line per message says how many were dropped.
	Window time.Duration
}

func defaultPacketLogging() packetLogging {
	return packetLogging{Tick: 10 * time.Second, First: 20, Window: 10 * time.Second}
}

// packetLogs makes rate-limited loggers on top of the process logger, for
// the components that log per packet. Components get a plain *zap.Logger.
// The per-device state (nil: none) taps them outside the rate limit.
type packetLogs struct {
	base *zap.Logger
	opts packetLogging
	sup  *suppressed
	st   *devices.State
}

func newPacketLogs(base *zap.Logger, opts packetLogging, reg prometheus.Registerer, st *devices.State) *packetLogs {
	sup := &suppressed{log: base, window: opts.Window, counts: map[suppressedKey]int64{},
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealboot_log_suppressed_total",
			Help: "Log lines a packet caused that were dropped by the rate limit, by logger; a summary line says which.",
		}, []string{"logger"})}
	if reg != nil {
		reg.MustRegister(sup.counter)
	}
	return &packetLogs{base: base, opts: opts, sup: sup, st: st}
}

// logger returns the process logger with every line rate-limited, except
// those exempt (nil: none) says must always be written. Each logger made
// here has budgets of its own.
func (p *packetLogs) logger(exempt func(zapcore.Entry) bool) *zap.Logger {
	log := p.base.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		sampled := zapcore.NewSamplerWithOptions(c, p.opts.Tick, p.opts.First, 0, zapcore.SamplerHook(p.sup.hook))
		if exempt == nil {
			return sampled
		}
		return &exemptCore{Core: sampled, plain: c, exempt: exempt}
	}))
	return withStateTap(log, p.st)
}

// flush writes the pending summaries now and stops the timer (at exit).
func (p *packetLogs) flush() { p.sup.flush(true) }

// exemptCore writes the entries exempt picks through plain, the others
// through the sampler it embeds.
type exemptCore struct {
	zapcore.Core
	plain  zapcore.Core
	exempt func(zapcore.Entry) bool
}

func (c *exemptCore) With(fields []zapcore.Field) zapcore.Core {
	return &exemptCore{Core: c.Core.With(fields), plain: c.plain.With(fields), exempt: c.exempt}
}

func (c *exemptCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.exempt(e) {
		return c.plain.Check(e, ce)
	}
	return c.Core.Check(e, ce)
}

// suppressed counts the lines the samplers drop and summarises them once
// per window: "suppressed N similar lines in the last 10s", with the
// message. Memory is bounded: past maxSuppressedKeys messages in a window,
// the rest are counted together.
type suppressed struct {
	log     *zap.Logger // not rate-limited
	window  time.Duration
	counter *prometheus.CounterVec

	mu      sync.Mutex
	counts  map[suppressedKey]int64
	pending bool // a flush is scheduled
	stopped bool
}

type suppressedKey struct {
	logger, msg string
	level       zapcore.Level
}

const maxSuppressedKeys = 100

func (s *suppressed) hook(e zapcore.Entry, d zapcore.SamplingDecision) {
	if d&zapcore.LogDropped == 0 {
		return
	}
	s.counter.WithLabelValues(e.LoggerName).Inc()
	k := suppressedKey{e.LoggerName, e.Message, e.Level}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.counts[k]; !ok && len(s.counts) >= maxSuppressedKeys {
		k.msg = "(other messages)"
	}
	s.counts[k]++
	if !s.pending && !s.stopped {
		s.pending = true
		time.AfterFunc(s.window, func() { s.flush(false) })
	}
}

// flush writes one summary line per message dropped since the last.
func (s *suppressed) flush(stop bool) {
	s.mu.Lock()
	counts := s.counts
	s.counts = map[suppressedKey]int64{}
	s.pending = false
	s.stopped = s.stopped || stop
	s.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b suppressedKey) int {
		return cmp.Or(cmp.Compare(a.logger, b.logger), cmp.Compare(a.level, b.level), cmp.Compare(a.msg, b.msg))
	})
	for _, k := range keys {
		log := s.log
		if k.logger != "" {
			log = log.Named(k.logger)
		}
		msg := fmt.Sprintf("suppressed %d similar lines in the last %s", counts[k], s.window)
		if ce := log.Check(k.level, msg); ce != nil {
			ce.Write(zap.String("event", "log.suppressed"), zap.String("message", k.msg), zap.Int64("suppressed", counts[k]))
		}
	}
}

// withStateTap tees log into the per-device state (nil: log as it is): the
// state reads every event at Info and above whatever log.level says, and
// the output's level and rate limits apply to the output only (see
// devices.State.Core). It goes outermost, around any sampler.
func withStateTap(log *zap.Logger, st *devices.State) *zap.Logger {
	if st == nil {
		return log
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, st.Core()) }))
}
