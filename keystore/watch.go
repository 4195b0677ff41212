package keystore

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore/watchdir"
)

// Run watches the directory and rescans it after changes settle, until ctx
// is done. The pin database is in the directory too, so a replacement made
// by `sealboot keys import --replace` is picked up as well.
func (s *Store) Run(ctx context.Context) error {
	events, err := watchdir.Watch(ctx, s.opts.Dir, "keys directory", s.log)
	if err != nil {
		return err
	}
	// Open's scan is served already: ready now. Changes between that scan
	// and the watch would be missed without this catch-up rescan, which is
	// no different from a change just after ready.
	close(s.ready)
	again, err := s.rescan()
	if err != nil {
		return err
	}
	// The scan cache is written beside the watch, never holding it up;
	// requests made while one is written come down to one more write.
	saves := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { s.saveLoop(ctx, saves) })
	save := func() {
		select {
		case saves <- struct{}{}:
		default:
		}
	}
	save()
	timer := time.NewTimer(s.opts.Settle)
	if !again {
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if strings.HasPrefix(ev.Name, scanCacheFile) && !ev.Rescan {
				continue // our own cache being written
			}
			// Any change, or the directory replaced: rescan once settled.
			timer.Reset(s.opts.Settle)
		case <-s.kick:
			timer.Reset(0)
		case <-timer.C:
			again, err := s.rescan()
			if err != nil {
				s.log.Error("keys directory rescan failed", zap.Error(err))
			}
			if again || err != nil {
				timer.Reset(s.opts.Settle)
			}
			save()
		}
	}
}

// saveLoop writes the scan cache when asked, until ctx is done.
func (s *Store) saveLoop(ctx context.Context, saves <-chan struct{}) {
	var saved uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-saves:
			saved = s.saveCache(saved)
		}
	}
}

// saveCache writes the scan cache when the store has changed since the
// generation saved; it returns the generation now saved.
func (s *Store) saveCache(saved uint64) uint64 {
	if !s.opts.ScanCache || s.opts.ReadOnly {
		return saved
	}
	s.mu.RLock()
	gen, files := s.generation, s.files
	s.mu.RUnlock()
	if gen == saved {
		return saved
	}
	if err := s.saveScanCache(files); err != nil {
		s.log.Warn("cannot write the key scan cache: the next start parses every certificate", zap.Error(err))
		return saved
	}
	s.log.Debug("key scan cache written", zap.Int("files", len(files)))
	return gen
}
