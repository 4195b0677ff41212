package keystore

import (
	"context"
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
	timer := time.NewTimer(s.opts.Settle)
	if !again {
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
			// Any change, or the directory replaced: rescan once settled.
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
