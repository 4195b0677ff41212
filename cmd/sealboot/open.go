package main

import (
	"context"
	"fmt"
)

// cmdOpen is filled in by its issue; until then it says so.
func cmdOpen(_ context.Context, _ []string, std stdio) int {
	fmt.Fprintln(std.err, "sealboot open: not implemented yet")
	return exitFailure
}
