package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"
)

// queue holds the versions waiting to be hashed, first in first out.
type queue struct {
	mu    sync.Mutex
	items []*entry
	wake  chan struct{} // capacity 1: something was pushed
}

func (q *queue) push(e *entry) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop waits for the next version to hash, until ctx is done.
func (q *queue) pop(ctx context.Context) (*entry, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			e := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more { // another worker may be asleep
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return e, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// hashWorker hashes queued versions until ctx is done.
func (d *Dir) hashWorker(ctx context.Context) {
	buf := make([]byte, 1<<20)
	for {
		e, ok := d.queue.pop(ctx)
		if !ok {
			return
		}
		d.hash(ctx, e, buf)
	}
}

// hash computes the SHA-256 of one version and, if that version is still
// the file's current one from start to end, records and logs it.
func (d *Dir) hash(ctx context.Context, e *entry, buf []byte) {
	d.mu.RLock()
	current := d.entries[e.name] == e
	d.mu.RUnlock()
	if !current { // superseded while it waited
		return
	}
	start := time.Now()
	f, err := d.open(e.name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Debug("image cannot be opened for hashing", zap.String("file", e.name), zap.Error(err))
		}
		d.changed(e.name) // gone or replaced: the watch decides
		return
	}
	defer f.Close()
	if identityOf(&f.Stat) != e.id {
		d.changed(e.name)
		return
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, buf)
	d.m.hashed.Add(float64(n))
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		// Written to while it was read: hash the version that settles.
		if after, serr := d.dir.Load().Lstat(e.name); serr != nil || identityOf(&after) != e.id {
			d.changed(e.name)
			return
		}
	}
	d.mu.Lock()
	current = d.entries[e.name] == e
	if current {
		if err != nil {
			e.problem = "unreadable: " + err.Error()
		} else {
			e.sum = hex.EncodeToString(h.Sum(nil))
		}
	}
	d.mu.Unlock()
	if !current {
		return
	}
	if err != nil {
		d.event(StateInvalid, e)
		return
	}
	if ce := d.log.Check(zap.DebugLevel, "image hashed"); ce != nil {
		ce.Write(zap.String("file", e.name), zap.Int64("bytes", n), zap.Duration("duration", time.Since(start)))
	}
	d.event(StateReady, e)
}

// ctxReader stops a long read (a 2 GB image) when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
