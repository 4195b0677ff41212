// Package watchdir watches a directory by its path, for the keys
// directory, the configs directory and the inventory's directory.
//
// fsnotify watches the directory the path named when the watch was set.
// Deploy tools often replace a directory instead of writing into it: a
// symlink swapped to a new release, or the directory removed and made
// again. The old watch then reports nothing of the new directory, and its
// files would be seen only at the next SIGHUP. Watch checks every second
// (and at once when the directory itself is removed or renamed) whether
// the path still names the directory being watched; when it does not, it
// moves the watch and asks for a full rescan.
package watchdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Event is a change in the directory: a file's base name, or Rescan when
// the whole directory must be compared again (it was replaced, or events
// were lost).
type Event struct {
	Name   string
	Rescan bool
}

// CheckInterval is how often the path is compared with the watched
// directory.
var CheckInterval = time.Second

// Watch watches dir until ctx is done; Events are delivered on the
// returned channel, which is closed when the watch ends. dir must exist.
// what names the directory in log lines ("configs directory").
func Watch(ctx context.Context, dir, what string, log *zap.Logger) (<-chan Event, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", what, err)
	}
	id, err := identify(dir)
	if err == nil {
		err = w.Add(dir)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s %s: %w", what, dir, err)
	}
	out := make(chan Event, 64)
	go (&watch{dir: filepath.Clean(dir), what: what, log: log, w: w, id: id, out: out}).run(ctx)
	return out, nil
}

type watch struct {
	dir, what string
	log       *zap.Logger
	w         *fsnotify.Watcher
	id        fileID // of the directory watched; zero while there is none
	out       chan Event
}

type fileID struct{ dev, ino uint64 }

func identify(dir string) (fileID, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return fileID{}, err
	}
	if !fi.IsDir() {
		return fileID{}, fmt.Errorf("not a directory")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no inode number")
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func (x *watch) run(ctx context.Context) {
	defer close(x.out)
	defer x.w.Close()
	tick := time.NewTicker(CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-x.w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == x.dir { // the directory itself
				// Removed or renamed: the watch went with it. A directory
				// made again in its place may even reuse the inode number,
				// so watch whatever the path names now.
				x.recheck(ctx, ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename))
				continue
			}
			if !x.send(ctx, Event{Name: filepath.Base(ev.Name)}) {
				return
			}
		case err, ok := <-x.w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: a full rescan recovers.
			x.log.Warn(x.what+" watch error; rescanning", zap.Error(err))
			if !x.send(ctx, Event{Rescan: true}) {
				return
			}
		case <-tick.C:
			x.recheck(ctx, false)
		}
	}
}

// recheck moves the watch when dir no longer names the directory watched,
// or whenever force is set.
func (x *watch) recheck(ctx context.Context, force bool) {
	id, err := identify(x.dir)
	if err != nil {
		if x.id != (fileID{}) {
			x.log.Warn(x.what+" is gone; waiting for it to come back", zap.String("dir", x.dir), zap.Error(err))
			_ = x.w.Remove(x.dir)
			x.id = fileID{}
		}
		return
	}
	if id == x.id && !force {
		return
	}
	_ = x.w.Remove(x.dir) // the old directory, unless already gone
	if err := x.w.Add(x.dir); err != nil {
		x.log.Error("cannot watch the new "+x.what+"; retrying", zap.String("dir", x.dir), zap.Error(err))
		x.id = fileID{}
		return
	}
	x.log.Info(x.what+" replaced; watching the new one and rescanning", zap.String("dir", x.dir))
	x.id = id
	x.send(ctx, Event{Rescan: true})
}

func (x *watch) send(ctx context.Context, ev Event) bool {
	select {
	case x.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
