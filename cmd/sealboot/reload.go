package main

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
)

// reloadOnHUP reloads on every SIGHUP, and on every request on the
// control socket (`sealboot reload`, which waits for the outcome), until
// ctx is done, from the moment sealboot is ready: a SIGHUP that came while
// it was starting (a large keystore takes seconds to read) is applied
// once, then. One reload runs at a time.
func (s *server) reloadOnHUP(ctx context.Context, ready <-chan struct{}) {
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	select {
	case <-s.hups:
		s.log.Info("reload requested during start-up; applying now")
		s.reload()
	default:
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.hups:
			s.reload()
		case reply := <-s.comps.reloadRequests:
			s.log.Info("reload requested on the control socket")
			reply <- s.reload()
		}
	}
}

// reloadResult is what a reload did, as the control socket reports it to
// `sealboot reload`.
type reloadResult struct {
	Outcome string   `json:"outcome"` // applied, refused or partial
	Kept    []string `json:"kept,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// reload reads the configuration again and applies it. A file that does not
// load or validate is refused: the running configuration keeps serving.
func (s *server) reload() reloadResult {
	s.notify.Reloading()
	defer s.notify.Ready("serving (reloaded)")
	cfg, kept, err := s.nextConfig()
	if err == nil {
		err = s.comps.check(cfg)
	}
	if err != nil {
		s.comps.metrics.reloaded(false)
		s.log.Error("reload refused: the new configuration is invalid; the running one keeps serving",
			zap.String("event", "config.reload"), zap.String("outcome", "refused"), zap.Error(err))
		return reloadResult{Outcome: "refused", Error: err.Error()}
	}
	if lvl, err := zap.ParseAtomicLevel(cfg.Log.Level); err == nil {
		s.level.SetLevel(lvl.Level())
	}
	if err := s.comps.reload(cfg); err != nil {
		s.comps.metrics.reloaded(false)
		s.log.Error("reload incomplete", zap.String("event", "config.reload"), zap.String("outcome", "partial"), zap.Error(err))
		return reloadResult{Outcome: "partial", Kept: kept, Error: err.Error()}
	}
	s.current = cfg
	s.comps.metrics.reloaded(true)
	s.log.Info("configuration reloaded", zap.String("event", "config.reload"), zap.String("outcome", "applied"),
		zap.Strings("kept", kept), zap.Bool("binding_check", *cfg.TFTP.BindingCheck))
	return reloadResult{Outcome: "applied", Kept: kept}
}

// nextConfig reads the configuration again and returns what a reload
// applies: the file's value of every setting that can change while sealboot
// runs, the running value of every one that cannot (restartOnly, each
// logged), and the values derived from others (tftp.binding_check's
// default, the directories under state_dir) derived from the values in
// effect. kept lists what keeps its running value.
func (s *server) nextConfig() (cfg *config.Config, kept []string, err error) {
	raw, err := config.Decode(s.src)
	if err != nil {
		return nil, nil, err
	}
	file, err := raw.Resolved() // the file as `sealboot check` sees it
	if err != nil {
		return nil, nil, s.src.Annotate(err)
	}
	next := *raw
	kept = s.keepRunning(&next, file)
	cfg, err = next.Resolved()
	if err != nil {
		return nil, nil, fmt.Errorf("%s, with the running values of the settings that change only on restart (%s): %w",
			s.src.Name(), strings.Join(kept, ", "), err)
	}
	return cfg, kept, nil
}

// keepRunning gives next the running value of every restart-only setting
// that file changes, and of what goes with it, and logs each. It returns
// the settings and sections kept.
func (s *server) keepRunning(next, file *config.Config) []string {
	var kept []string
	inKept := func(key string) bool {
		return slices.ContainsFunc(kept, func(k string) bool { return key == k || strings.HasPrefix(key, k+".") })
	}
	for _, r := range restartOnly() {
		running, _ := s.started.Value(r.key) // every key is known: TestRestartOnlyKeysExist
		got, _ := file.Value(r.key)
		if !r.differs(running, got) {
			continue
		}
		s.logKept(r, running, got)
		for _, k := range r.keeps() {
			if inKept(k) {
				continue
			}
			if k != r.key {
				s.logKeptWith(k, r.key)
			}
			_ = next.Keep(k, s.started)
			kept = append(kept, k)
		}
	}
	// tftp.listen: the file's value is compared with what the file said
	// at start; what runs may be the high-port fallback.
	if !slices.Equal(file.TFTP.Listen, s.listenInFile) {
		s.logKept(restartKey{key: "tftp.listen"}, s.started.TFTP.Listen, file.TFTP.Listen)
		kept = append(kept, "tftp.listen")
	}
	next.TFTP.Listen = s.started.TFTP.Listen
	return kept
}

func (r restartKey) differs(running, next any) bool {
	if r.changed != nil {
		return r.changed(running, next)
	}
	return !reflect.DeepEqual(running, next)
}

func (r restartKey) keeps() []string {
	if r.keep == nil {
		return []string{r.key}
	}
	return r.keep
}

// logKeptWith says that k keeps its running value because key changed.
func (s *server) logKeptWith(k, key string) {
	if strings.HasPrefix(key, k+".") {
		s.log.Warn("the running "+k+" section keeps serving as it is until the next restart, because "+key+" changed",
			zap.String("section", k), zap.String("key", key))
		return
	}
	s.log.Warn(k+" keeps its running value too until the next restart, because "+key+" changed",
		zap.String("kept", k), zap.String("key", key))
}

func (s *server) logKept(r restartKey, running, got any) {
	fields := []zap.Field{zap.String("key", r.key)}
	if !r.secret {
		fields = append(fields, zap.String("running", showValue(running)), zap.String("new", showValue(got)))
	}
	s.log.Warn("changed setting takes effect at the next restart; keeping the running value", fields...)
}

// showValue writes a setting's value for the log, as the file would.
func showValue(v any) string {
	switch v := v.(type) {
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case *bool:
		if v == nil {
			return "unset"
		}
		return strconv.FormatBool(*v)
	}
	return fmt.Sprint(v)
}
