package main

import (
	"context"
	"fmt"
)

// cmdKeys is filled in by its issue; until then it says so.
func cmdKeys(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot keys: not implemented yet")
	return exitFailure
}
