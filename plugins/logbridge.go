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
// dropped packet at Info; those lines become Debug, and parse failures are
// counted as malformed packets.
type logBridge struct {
	log       *zap.Logger
	malformed func()
}

func (b *logBridge) Levels() []logrus.Level { return logrus.AllLevels }

func (b *logBridge) Fire(e *logrus.Entry) error {
	msg := e.Message
	if strings.HasPrefix(msg, "Error parsing DHCPv") || strings.Contains(msg, "unsupported opcode") {
		b.malformed()
	}
	level := zapcore.DebugLevel
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		level = zapcore.ErrorLevel
	case logrus.WarnLevel:
		level = zapcore.WarnLevel
	}
	if ce := b.log.Check(level, msg); ce != nil {
		prefix, _ := e.Data["prefix"].(string)
		ce.Write(zap.String("component", prefix))
	}
	return nil
}

// bridgeLogs sends CoreDHCP's log to log (its own output is silenced) and
// returns a function that removes the bridge.
func bridgeLogs(log *zap.Logger, malformed func()) (remove func()) {
	registryMu.Lock()
	defer registryMu.Unlock()
	l := logger.GetLogger("sealboot").Logger
	l.SetOutput(io.Discard)
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
