package main

import (
	"context"
	"fmt"
)

// cmdServe is filled in by its issue; until then it says so.
func cmdServe(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot serve: not implemented yet")
	return exitFailure
}
