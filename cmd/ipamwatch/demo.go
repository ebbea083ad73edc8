package main

import (
	"context"
	"fmt"
)

// cmdDemo is not implemented yet; its work stream replaces this file.
func cmdDemo(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'demo' is not implemented yet")
	return 1
}
