package main

import (
	"context"
	"fmt"
)

// cmdCheck is filled in by its issue; until then it says so.
func cmdCheck(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot check: not implemented yet")
	return exitFailure
}
