package keystore

import (
	"context"
	"fmt"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Run watches the directory and rescans it after changes settle, until ctx
// is done. The pin database is in the directory too, so a replacement made
// by `sealboot keys import --replace` is picked up as well.
func (s *Store) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch keys directory: %w", err)
	}
	defer w.Close()
	if err := w.Add(s.opts.Dir); err != nil {
		return fmt.Errorf("watch keys directory %s: %w", s.opts.Dir, err)
	}
	// Open's scan is served already: ready now. Changes between that scan
	// and the watch would be missed without this catch-up rescan, which is
	// no different from a change just after ready.
	close(s.ready)
	again, err := s.rescan()
	if err != nil {
		return err
	}
	timer := time.NewTimer(s.opts.Settle)
	if !again {
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Name != "" {
				timer.Reset(s.opts.Settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events: a full rescan recovers.
			s.log.Warn("keys directory watch error; rescanning", zap.Error(err))
			timer.Reset(s.opts.Settle)
		case <-timer.C:
			again, err := s.rescan()
			if err != nil {
				s.log.Error("keys directory rescan failed", zap.Error(err))
			}
			if again || err != nil {
				timer.Reset(s.opts.Settle)
			}
		}
	}
}
