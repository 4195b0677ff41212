// Command sealboot is an RFC 8886 bootstrap appliance: a DHCP server that
// tells each new device where its configuration is, and a TFTP server that
// encrypts each configuration on the fly to the requesting device's
// certificate.
//
// Only this package reads flags and configuration files and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// stdio is where a subcommand reads input and writes output; tests pass
// buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand of sealboot.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, std stdio) int
}

// Exit codes shared by all subcommands.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func commands() []command {
	return []command{
		{"serve", "run the DHCP and TFTP bootstrap server", cmdServe},
		{"check", "validate a configuration file", cmdCheck},
		{"seal", "encrypt a file to a device certificate (CMS)", cmdSeal},
		{"open", "decrypt a sealed file with a device private key", cmdOpen},
		{"keys", "manage the device certificate keystore", cmdKeys},
		{"device", "emulate a device: make its key, boot it", cmdDevice},
		{"demo", "a throwaway lab: sealboot and an emulated device (root)", cmdDemo},
		{"version", "print the version", cmdVersion},
	}
}

func run(args []string, std stdio) int {
	if len(args) == 0 {
		usage(std.err)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help":
		if len(args) > 1 { // sealboot help serve: serve's own help
			return run([]string{args[1], "--help"}, std)
		}
		usage(std.out)
		return exitOK
	case "-h", "--help":
		usage(std.out)
		return exitOK
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return c.run(ctx, args[1:], std)
		}
	}
	fmt.Fprintf(std.err, "sealboot: unknown command %q\n\n", name)
	usage(std.err)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "sealboot: RFC 8886 secure device install server (DHCP + TFTP, per-device CMS encryption)\n\nUsage:\n  sealboot <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'sealboot <command> --help' for a command's flags and an example.\n")
}
