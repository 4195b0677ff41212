package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// signals are SIGHUP, SIGINT and SIGTERM, caught from the first line of
// main for the whole life of the process, so that one arriving while
// sealboot is still starting (reading a large keystore takes seconds) is
// remembered rather than killing it: a SIGHUP is applied as a reload once
// `serve` is ready, a SIGINT or SIGTERM stops it as soon as start-up allows.
//
// Go's package initialisation runs before main (≈50 ms on an idle machine,
// most of it gopacket's tables that CoreDHCP pulls in; over a second when
// the CPUs are saturated); a SIGHUP then still kills the process. systemd
// does not send one before READY=1 (systemd/README.md).
type signals struct {
	// hupIgnored: SIGHUP was ignored when sealboot started (nohup); the
	// subcommands other than serve go on ignoring it.
	hupIgnored bool
	ch         chan os.Signal
	hup        chan struct{} // holds one pending SIGHUP
	stop       chan struct{} // closed at the first SIGINT or SIGTERM
	once       sync.Once
	stopSig    os.Signal // the signal that closed stop
}

// catchSignals starts catching; call it first in main.
func catchSignals() *signals {
	s := &signals{
		hupIgnored: signal.Ignored(syscall.SIGHUP),
		ch:         make(chan os.Signal, 8),
		hup:        make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	signal.Notify(s.ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	go s.loop()
	return s
}

func (s *signals) loop() {
	for sig := range s.ch {
		if sig == syscall.SIGHUP {
			select {
			case s.hup <- struct{}{}:
			default: // one is pending: a reload reads everything again anyway
			}
			continue
		}
		s.once.Do(func() {
			s.stopSig = sig
			close(s.stop)
		})
	}
}

// release stops catching.
func (s *signals) release() {
	signal.Stop(s.ch)
	close(s.ch)
}

// hangups delivers SIGHUPs, at most one pending: the ones received before
// the first receive, start-up included, come as one.
func (s *signals) hangups() <-chan struct{} { return s.hup }

// context returns the commands' context: cancelled at the first SIGINT or
// SIGTERM with an interrupted cause, and unless hangupReloads (serve) at
// SIGHUP too (the terminal went away), as it used to end the process, when
// it was not ignored at start. A nil s (tests that run commands in
// process) catches SIGINT and SIGTERM from now on.
func (s *signals) context(hangupReloads bool) (context.Context, func()) {
	if s == nil {
		return interruptContext()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	hup := s.hup
	if hangupReloads || s.hupIgnored {
		hup = nil
	}
	go func() {
		select {
		case <-s.stop:
			cancel(interrupted{s.stopSig.(syscall.Signal)})
		case <-hup:
			cancel(interrupted{syscall.SIGHUP})
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// reloadsOnHangup says whether args run `serve`, for which SIGHUP reloads.
func reloadsOnHangup(root *cobra.Command, args []string) bool {
	cmd, _, err := root.Find(args)
	return err == nil && cmd.Name() == "serve"
}

// signalName is the signal's conventional name, SIGTERM.
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return sig.String()
}
