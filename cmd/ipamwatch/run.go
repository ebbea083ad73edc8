package main

import (
	"context"
	"fmt"
)

// cmdRun is not implemented yet; its work stream replaces this file.
func cmdRun(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'run' is not implemented yet")
	return 1
}
