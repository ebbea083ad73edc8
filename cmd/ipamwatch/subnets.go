package main

import (
	"context"
	"fmt"
)

// cmdSubnets is not implemented yet; its work stream replaces this file.
func cmdSubnets(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'subnets' is not implemented yet")
	return 1
}
