package main

import (
	"context"
	"fmt"
)

// cmdSeal is filled in by its issue; until then it says so.
func cmdSeal(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot seal: not implemented yet")
	return exitFailure
}
