package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newVersionCmd(std stdio) *cobra.Command {
	return newCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Long:    "Version prints the version of sealboot and of the libraries it embeds.",
		Example: "  sealboot version\n  sealboot --version",
		Args:    noArgs,
	}, func(*cobra.Command, []string) error { return printVersion(std) })
}

func printVersion(std stdio) error {
	fmt.Fprintf(std.out, "sealboot %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/coredhcp/coredhcp", "github.com/pin/tftp/v3", "github.com/insomniacslk/dhcp":
				fmt.Fprintf(std.out, "  %s %s\n", dep.Path, dep.Version)
			}
		}
	}
	return nil
}
