package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func cmdVersion(_ context.Context, args []string, std stdio) int {
	fs := newFlags("version", "print the version of sealboot and of the libraries it embeds",
		"  sealboot version", std)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(std.out, "sealboot %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/coredhcp/coredhcp", "github.com/pin/tftp/v3", "github.com/insomniacslk/dhcp":
				fmt.Fprintf(std.out, "  %s %s\n", dep.Path, dep.Version)
			}
		}
	}
	return exitOK
}
