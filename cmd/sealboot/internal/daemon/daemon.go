// Package daemon runs sealboot's components as tasks under one context: it
// names the component in any error, reports readiness once every component's
// listeners are up (to systemd too, with sd_notify), and bounds the time a
// stop may take.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Component is a long-running part of the daemon.
type Component interface {
	// Run serves until ctx is done (returning nil) or fails.
	Run(ctx context.Context) error
	// Ready is closed once the component serves.
	Ready() <-chan struct{}
}

// Task is a named component; the name prefixes its errors ("tftp: ...").
type Task struct {
	Name      string
	Component Component
}

// ErrStopTimeout is returned when components did not stop within the
// shutdown timeout.
var ErrStopTimeout = errors.New("components did not stop in time")

// Runner runs tasks together.
type Runner struct {
	Log             *zap.Logger
	ShutdownTimeout time.Duration
	// OnReady is called once, when every task is ready.
	OnReady func()
	// OnStopping is called once, when the runner starts to stop.
	OnStopping func()
}

// Run starts every task and returns when ctx is done and all tasks have
// returned, or when a task fails (the others are then stopped). A task that
// fails comes back as "name: error". Stopping is bounded by ShutdownTimeout.
func (r *Runner) Run(ctx context.Context, tasks []Task) error {
	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	for _, t := range tasks {
		g.Go(func() error {
			if err := t.Component.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			return nil
		})
	}
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		r.waitReady(gctx, tasks)
	}()
	// Run returns only after waitReady has (it logs); cancelling first makes
	// sure it does.
	defer func() { cancel(); <-readyDone }()
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()

	select {
	case err := <-done:
		r.stopping()
		return err
	case <-gctx.Done():
	}
	r.stopping()
	cancel()
	timer := time.NewTimer(r.ShutdownTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w (%s)", ErrStopTimeout, r.ShutdownTimeout)
	}
}

func (r *Runner) waitReady(ctx context.Context, tasks []Task) {
	for _, t := range tasks {
		select {
		case <-t.Component.Ready():
			r.Log.Debug("component ready", zap.String("component", t.Name))
		case <-ctx.Done():
			return
		}
	}
	if r.OnReady != nil {
		r.OnReady()
	}
}

func (r *Runner) stopping() {
	if r.OnStopping != nil {
		r.OnStopping()
		r.OnStopping = nil
	}
}
