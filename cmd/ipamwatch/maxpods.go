package main

import (
	"context"
	"fmt"
)

// cmdMaxPods is not implemented yet; its work stream replaces this file.
func cmdMaxPods(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'maxpods' is not implemented yet")
	return 1
}
