package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newRootCmd returns the sealboot command tree, reading and writing std.
func newRootCmd(std stdio) *cobra.Command {
	root := newCommand(&cobra.Command{
		Use:   "sealboot <command>",
		Short: "RFC 8886 secure device install server",
		Long:  "sealboot: RFC 8886 secure device install server (DHCP + TFTP, per-device CMS encryption)",
		Example: `  sealboot serve --config /etc/sealboot/sealboot.yaml
  sudo sealboot demo
  source <(sealboot completion bash)`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}, nil)
	showVersion := root.Flags().BoolP("version", "v", false, "print the version (as sealboot version)")
	root.RunE = ranE(func(cmd *cobra.Command, args []string) error {
		if *showVersion {
			return printVersion(std)
		}
		fmt.Fprintf(std.err, "%s\n\n%s", cmd.Long, cmd.UsageString())
		return exitCode(exitUsage)
	})
	root.SetIn(std.in)
	root.SetOut(std.out)
	root.SetErr(std.err)
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(newServeCmd(std), newCheckCmd(std), newReloadCmd(std), newSealCmd(std), newOpenCmd(std),
		newKeysCmd(std), newDeviceCmd(std), newSZTPCmd(std), newDemoCmd(std), newStatusCmd(std), newVersionCmd(std))
	completionCmd(root)
	return root
}

// completionCmd adds cobra's completion command (bash, zsh, fish,
// powershell) now rather than when root runs, to refuse an unknown shell as
// the other groups refuse an unknown subcommand.
func completionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	c, _, err := root.Find([]string{"completion"})
	if err != nil || c == root {
		return
	}
	c.Use = "completion <shell>"
	c.Example = `  source <(sealboot completion bash)
  sealboot completion bash > /etc/bash_completion.d/sealboot
  sealboot completion zsh > "${fpath[1]}/_sealboot"
  sealboot completion fish > ~/.config/fish/completions/sealboot.fish`
	newGroupCmd(c)
}

// usageTemplate is cobra's, except that a command with subcommands that
// runs by itself (sealboot, keys, device: to refuse a missing or unknown
// subcommand) shows one usage line.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{else if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// newCommand completes c: flags listed in the order they are defined, and
// run's errors marked as the command's own.
func newCommand(c *cobra.Command, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	c.Flags().SortFlags = false
	c.PersistentFlags().SortFlags = false
	if run != nil {
		c.RunE = ranE(run)
	}
	return c
}

// newGroupCmd returns a command whose work is done by its subcommands: on
// its own it refuses to run, naming them.
func newGroupCmd(c *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	c.AddCommand(subs...)
	c.Args = subcommandArgs
	c.SuggestionsMinimumDistance = 2 // as cobra sets for the root
	return newCommand(c, func(cmd *cobra.Command, _ []string) error {
		var names []string
		for _, s := range cmd.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		return usagef("missing command (%s)", strings.Join(names, ", "))
	})
}

// subcommandArgs refuses an argument to a group command: it names no
// subcommand. Like cobra's message for the root command, with suggestions.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return errors.New(msg)
}

// noArgs refuses arguments to a command that takes only flags.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	return nil
}

// newHelpCmd is cobra's help command, except that an unknown topic is a
// usage error (standard error, exit 2) rather than the root's usage.
func newHelpCmd() *cobra.Command {
	return newCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints a command's help: sealboot help keys import is sealboot keys import --help.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() && strings.HasPrefix(s.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(s.Name(), s.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	}, func(c *cobra.Command, args []string) error {
		cmd, rest, err := c.Root().Find(args)
		if err != nil || len(rest) > 0 {
			return usagef("unknown help topic %q", strings.Join(args, " "))
		}
		cmd.InitDefaultHelpFlag() // listed in its help, as with --help
		return cmd.Help()
	})
}

// runError is an error returned by a command's own run function, as
// opposed to cobra's (unknown command or flag, bad arguments), which are
// usage errors.
type runError struct{ err error }

func (r runError) Error() string { return r.err.Error() }
func (r runError) Unwrap() error { return r.err }

// ranE returns run with its errors marked as runErrors.
func ranE(run func(cmd *cobra.Command, args []string) error) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := run(cmd, args); err != nil {
			return runError{err}
		}
		return nil
	}
}

// usageError is a mistake on the command line found by the command itself:
// reported as cobra's are, with a pointer to --help, and exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode ends a command that has reported its failures itself (one line
// per item, or check's findings) with that exit code.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// completeWords makes the shell complete flag's value from words.
func completeWords(c *cobra.Command, flag string, words ...string) {
	_ = c.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
}
