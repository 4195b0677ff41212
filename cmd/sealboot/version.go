package main

import (
	"context"
	"fmt"
)

// cmdVersion is filled in by its issue; until then it says so.
func cmdVersion(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot version: not implemented yet")
	return exitFailure
}
