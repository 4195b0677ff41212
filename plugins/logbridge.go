package plugins

import (
	"io"
	"strings"

	"github.com/coredhcp/coredhcp/logger"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logBridge forwards CoreDHCP's logrus output to zap. CoreDHCP logs every
// dropped packet at Info; those lines become Debug, and packets that are
// not valid DHCP are counted as malformed. The log it writes to is the
// per-packet one, rate-limited by level and message: so each line's
// message is CoreDHCP's fixed text, and what varies (the parser's error,
// an address) goes in the detail field.
type logBridge struct {
	log       *zap.Logger
	malformed func()
}

func (b *logBridge) Levels() []logrus.Level { return logrus.AllLevels }

func (b *logBridge) Fire(e *logrus.Entry) error {
	msg, bad := coreDHCPMessage(e.Message)
	level := zapcore.DebugLevel
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		level = zapcore.ErrorLevel
	case logrus.WarnLevel:
		level = zapcore.WarnLevel
	}
	if bad {
		b.malformed()
		level = zapcore.DebugLevel // counted; a sender's garbage is no warning
	}
	if ce := b.log.Check(level, msg); ce != nil {
		prefix, _ := e.Data["prefix"].(string)
		fields := []zap.Field{zap.String("component", prefix)}
		if msg != e.Message {
			fields = append(fields, zap.String("detail", e.Message))
		}
		ce.Write(fields...)
	}
	return nil
}

// coreDHCPMessage returns the fixed part of a line CoreDHCP formats
// (server/handle.go), and whether it is about a packet that is not valid
// DHCP: one that does not parse, a BOOTREPLY sent to the server, or a
// DHCPv6 Relay-forward without a Relay Message option (RFC 8415 section
// 21.10) inside.
func coreDHCPMessage(text string) (msg string, malformed bool) {
	for _, m := range []struct {
		prefix    string
		malformed bool
	}{
		{"Error parsing DHCPv6 request", true},
		{"Error parsing DHCPv4 request", true},
		{"DHCPv6: cannot get inner message", true},
		{"MainHandler4: unsupported opcode", true},
		{"MainHandler6: NewReplyFromDHCPv6Message failed", false},
		{"MainHandler6: conn.Write to", false},
		{"DHCPv6: cannot create relay-repl from relay-forw", false},
		{"MainHandler4: failed to build reply", false},
		{"plugins/server: Unhandled message type", false},
		{"MainHandler4: Can not get Interface for index", false},
		{"MainHandler4: Cannot send Ethernet packet", false},
		{"MainHandler4: conn.Write to", false},
		{"Error reading from connection", false},
		{"Send Ethernet: Cannot close socket", false},
		{"Send Ethernet: Cannot set option for socket", false},
	} {
		if strings.HasPrefix(text, m.prefix) {
			return m.prefix, m.malformed
		}
	}
	return text, false
}

// discardFormatter formats nothing.
type discardFormatter struct{}

func (discardFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// bridgeLogs sends CoreDHCP's log to log (its own output is silenced) and
// returns a function that removes the bridge.
func bridgeLogs(log *zap.Logger, malformed func()) (remove func()) {
	registryMu.Lock()
	defer registryMu.Unlock()
	l := logger.GetLogger("sealboot").Logger
	l.SetOutput(io.Discard)
	// Its output goes nowhere: do not format it either. logrus formats
	// under its one mutex, which a flood of packets (one goroutine each)
	// queues behind.
	l.SetFormatter(discardFormatter{})
	l.SetLevel(logrus.DebugLevel)
	b := &logBridge{log: log.WithOptions(zap.WithCaller(false)), malformed: malformed}
	l.AddHook(b)
	return func() {
		registryMu.Lock()
		defer registryMu.Unlock()
		kept := logrus.LevelHooks{}
		for lvl, hooks := range l.Hooks {
			for _, h := range hooks {
				if h != b {
					kept[lvl] = append(kept[lvl], h)
				}
			}
		}
		l.ReplaceHooks(kept)
	}
}
