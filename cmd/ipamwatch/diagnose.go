package main

import (
	"context"
	"fmt"
)

// cmdDiagnose is not implemented yet; its work stream replaces this file.
func cmdDiagnose(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'diagnose' is not implemented yet")
	return 1
}
