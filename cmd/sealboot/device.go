package main

import (
	"context"
	"fmt"
)

// cmdDevice is filled in by its issue; until then it says so.
func cmdDevice(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot device: not implemented yet")
	return exitFailure
}
