// Command sealboot is an RFC 8886 bootstrap appliance: a DHCP server that
// tells each new device where its configuration is, and a TFTP server that
// encrypts each configuration on the fly to the requesting device's
// certificate.
//
// Only this package reads flags and configuration files and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	sig := catchSignals() // first: a signal during start-up must not kill sealboot (signals.go)
	os.Exit(run(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, sig: sig}))
}

// stdio is where a subcommand reads input and writes output, and the
// signals it gets; tests pass buffers and no signals.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	sig      *signals
}

// Exit codes shared by all subcommands. A command stopped by a signal exits
// 128 + the signal's number (130 for Ctrl-C), as shells report it.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run executes the command line args and returns the exit code. Help goes
// to standard output; usage errors, and errors prefixed with the command
// path, to standard error.
func run(args []string, std stdio) int {
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root := newRootCmd(std)
	root.SetArgs(args)
	ctx, stop := std.sig.context(reloadsOnHangup(root, args))
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	return exitStatus(ctx, cmd, err, std)
}

// exitStatus reports err, if any, and returns the exit code for it.
func exitStatus(ctx context.Context, cmd *cobra.Command, err error, std stdio) int {
	if err == nil {
		return exitOK
	}
	path := cmd.CommandPath()
	var ran runError
	if !errors.As(err, &ran) {
		// Cobra's own: unknown command or flag, bad flag value, bad arguments.
		return reportUsage(path, err, std)
	}
	err = ran.err
	var code exitCode
	var usage usageError
	var sig interrupted
	switch {
	case errors.As(err, &code):
		return int(code) // the command reported its failures itself
	case errors.As(err, &usage):
		return reportUsage(path, err, std)
	case errors.Is(err, context.Canceled) && errors.As(context.Cause(ctx), &sig):
		return 128 + int(sig.sig) // stopped by Ctrl-C or SIGTERM: nothing to add
	}
	fmt.Fprintf(std.err, "%s: %v\n", path, err)
	return exitFailure
}

func reportUsage(path string, err error, std stdio) int {
	// Cobra's suggestions end with a newline: a blank line, as cobra prints.
	fmt.Fprintf(std.err, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
	return exitUsage
}

// interrupted is the cause of the run context's end when a signal stopped
// the command.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return i.sig.String() }

// interruptContext returns a context canceled, with an interrupted cause,
// at the first SIGINT or SIGTERM; later ones are ignored until stop.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			cancel(interrupted{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}
