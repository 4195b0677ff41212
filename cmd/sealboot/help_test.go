package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// commandPaths returns the argument lists that name every command of the
// tree, cobra's completion commands included, root first.
func commandPaths() [][]string {
	root := newRootCmd(stdio{})
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				walk(s, append(append([]string(nil), path...), s.Name()))
			}
		}
	}
	walk(root, []string{})
	return out
}

// TestHelpHasUsageAndSubcommands: every command's --help (and help
// <command>) goes to standard output with a Usage line naming the command,
// and lists each of its subcommands.
func TestHelpHasUsageAndSubcommands(t *testing.T) {
	t.Parallel()
	for _, path := range commandPaths() {
		name := strings.Join(append([]string{"sealboot"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, e := runCLI(t, nil, append(path, "--help")...)
			if code != exitOK || e != "" || !strings.Contains(out, "Usage:\n  "+name) {
				t.Fatalf("exit %d, want help with 'Usage:\\n  %s' on standard output\nstdout:\n%s\nstderr:\n%s", code, name, out, e)
			}
			// A tree of its own: cobra's Find writes into the commands.
			cmd, _, err := newRootCmd(stdio{}).Find(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() && !strings.Contains(out, "\n  "+s.Name()+" ") {
					t.Errorf("help does not list subcommand %s:\n%s", s.Name(), out)
				}
			}
			code, viaHelp, e := runCLI(t, nil, append([]string{"help"}, path...)...)
			if code != exitOK || e != "" || viaHelp != out {
				t.Errorf("help %v: exit %d, stderr %q, stdout differs from --help:\n%s", path, code, e, viaHelp)
			}
		})
	}
}

// TestUsageErrors: mistakes on the command line go to standard error,
// prefixed with the command path, with a pointer to its --help, and exit 2.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	type usageCase struct {
		args []string
		want string // first line of standard error
	}
	var tests []usageCase
	for _, path := range commandPaths() {
		name := strings.Join(append([]string{"sealboot"}, path...), " ")
		tests = append(tests, usageCase{append(path, "--nosuch"), name + ": unknown flag: --nosuch"})
	}
	tests = append(tests,
		usageCase{[]string{"nosuch"}, `sealboot: unknown command "nosuch" for "sealboot"`},
		usageCase{[]string{"keys", "--dir", "x", "improt"}, `sealboot keys: unknown command "improt" for "sealboot keys"`},
		usageCase{[]string{"device", "bot"}, `sealboot device: unknown command "bot" for "sealboot device"`},
		usageCase{[]string{"device"}, "sealboot device: missing command (boot, keygen)"},
		usageCase{[]string{"serve", "extra"}, `sealboot serve: unexpected arguments ["extra"]`},
		usageCase{[]string{"keys", "import", "--dir", "x", "--timeout", "1s"}, "sealboot keys import: unknown flag: --timeout"},
		usageCase{[]string{"keys", "fetch", "--timeout", "soon"}, `sealboot keys fetch: invalid argument "soon" for "--timeout" flag`},
		usageCase{[]string{"device", "keygen", "--out", "x"}, "sealboot device keygen: --serial or --count is required"},
		usageCase{[]string{"help", "nosuch"}, `sealboot help: unknown help topic "nosuch"`},
		usageCase{[]string{"completion", "tcsh"}, `sealboot completion: unknown command "tcsh" for "sealboot completion"`},
		usageCase{nil, "sealboot: RFC 8886 secure device install server"},
	)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, e := runCLI(t, nil, tt.args...)
			if code != exitUsage || out != "" || !strings.HasPrefix(e, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and stderr starting %q", code, out, e, tt.want)
			}
		})
	}
}

// TestUnknownCommandSuggests: a misspelt subcommand gets cobra's
// suggestion, at the top and in the groups.
func TestUnknownCommandSuggests(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{"kyes": "keys", "keys improt": "import", "device keygne": "keygen"} {
		_, _, e := runCLI(t, nil, strings.Fields(args)...)
		if !strings.Contains(e, "Did you mean this?\n\t"+want+"\n") {
			t.Errorf("%s: no suggestion of %s:\n%s", args, want, e)
		}
	}
}

// TestErrorsNameTheCommand: a failing command's error line starts with its
// command path.
func TestErrorsNameTheCommand(t *testing.T) {
	t.Parallel()
	missing := t.TempDir() + "/missing"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "--dir", missing, "list"}, "sealboot keys list: keys directory"},
		{[]string{"keys", "--dir", missing, "import", "x.crt"}, "sealboot keys import: keys directory"},
		{[]string{"seal", "--cert", missing}, "sealboot seal: open " + missing},
		{[]string{"open", "--key", missing}, "sealboot open: open " + missing},
		{[]string{"serve", "--config", missing}, "sealboot serve: " + missing + ": cannot read the configuration file: no such file or directory"},
	} {
		code, _, e := runCLI(t, nil, tt.args...)
		if code != exitFailure || !strings.HasPrefix(e, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a line starting %q", tt.args, code, e, tt.want)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	_, want, _ := runCLI(t, nil, "version")
	for _, flag := range []string{"-v", "--version"} {
		if code, out, e := runCLI(t, nil, flag); code != exitOK || out != want || e != "" || !strings.HasPrefix(out, "sealboot ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", flag, code, out, e, want)
		}
	}
}

// TestInterruptedExitsQuietly: a command that ends because SIGINT or
// SIGTERM canceled its context exits 128 + the signal, with no error line;
// a command that fails on its own during an interrupt still says why.
func TestInterruptedExitsQuietly(t *testing.T) {
	t.Parallel()
	cmd := newRootCmd(stdio{})
	for _, tt := range []struct {
		name  string
		cause error
		err   error
		code  int
		say   bool
	}{
		{"sigint", interrupted{syscall.SIGINT}, context.Canceled, 130, false},
		{"sigterm", interrupted{syscall.SIGTERM}, context.Canceled, 143, false},
		{"canceled without a signal", nil, context.Canceled, exitFailure, true},
		{"other error during an interrupt", interrupted{syscall.SIGINT}, errors.New("boom"), exitFailure, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(tt.cause)
			var errb strings.Builder
			code := exitStatus(ctx, cmd, runError{tt.err}, stdio{err: &errb})
			if code != tt.code || (errb.Len() > 0) != tt.say {
				t.Fatalf("exit %d, stderr %q; want %d, an error line: %v", code, errb.String(), tt.code, tt.say)
			}
		})
	}
}

// TestCompletion: `sealboot completion bash` loads in bash (with the
// bash-completion package, which cobra's script needs) and completes
// commands, subcommands and flag values; zsh and fish scripts are made.
func TestCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash-completion not installed (Debian package bash-completion)")
	}
	t.Parallel()
	bin := buildSealboot(t)
	for _, shell := range []string{"zsh", "fish"} {
		if code, out, e := runCLI(t, nil, "completion", shell); code != exitOK || !strings.Contains(out, "sealboot") || e != "" {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), e)
		}
	}
	// complete LINE: the words bash would offer at the end of LINE.
	script := `source ` + bashCompletion + `
source <("$SEALBOOT" completion bash) || exit 1
compopt() { :; } # outside a real completion, as bash itself would allow
complete_line() {
	COMP_LINE="$SEALBOOT $1"
	read -ra COMP_WORDS <<<"$COMP_LINE"
	[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	__start_sealboot
	echo "${COMPREPLY[*]}"
}
`
	for line, want := range map[string]string{
		"k":                         "keys",
		"ke":                        "keys",
		"keys im":                   "import",
		"keys --dir /tmp re":        "remove",
		"device b":                  "boot",
		"device boot --vendor ju":   "juniper",
		"device keygen --type p25":  "p256",
		"seal --cipher aes128-g":    "aes128-gcm",
		"help de":                   "device demo",
		"completion f":              "fish",
		"serve --log-":              "--log-level --log-format",
		"keys import --rep":         "--replace",
		"keys list --":              "--json --help --config --dir --allow-small-rsa",
		"check --config /nonexist/": "",
	} {
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script+"complete_line '"+line+"'")
		cmd.Env = append(os.Environ(), "SEALBOOT="+bin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		if got := strings.TrimSpace(string(out)); !sameWords(got, want) {
			t.Errorf("sealboot %s<TAB>: %q, want %q", line, got, want)
		}
	}
}

func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	if len(x) != len(y) {
		return false
	}
	seen := map[string]bool{}
	for _, w := range x {
		seen[w] = true
	}
	for _, w := range y {
		if !seen[w] {
			return false
		}
	}
	return true
}
