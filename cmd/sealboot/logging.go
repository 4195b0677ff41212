package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"
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
	core := zapcore.NewCore(encoder, out, lvl)
	return zap.New(core, zap.ErrorOutput(out)), lvl, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// withStateTap tees log into the per-device state: the state reads every
// event at Info and above whatever log.level says, and the output's level
// and any sampling apply to the output only (see devices.State.Core).
func withStateTap(log *zap.Logger, st *devices.State) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, st.Core()) }))
}
