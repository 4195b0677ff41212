package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// newFlags returns a flag set for a subcommand whose --help prints what the
// command does, its flags, and the examples, to standard output (as
// `sealboot --help` does); usage errors go to standard error.
func newFlags(name, summary, examples string, std stdio) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(std.err)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(std.out, "sealboot %s: %s\n\nFlags:\n%s\nExamples:\n%s\n", name, summary, fs.FlagUsages(), examples)
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing ended
// the command (help asked for, or a usage error), or -1 to go on.
func parseFlags(fs *pflag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return -1
	case errors.Is(err, pflag.ErrHelp):
		return exitOK
	default:
		fmt.Fprintf(fs.Output(), "sealboot %s: %v\nRun 'sealboot %s --help' for usage.\n", fs.Name(), err, fs.Name())
		return exitUsage
	}
}
