package main

import (
	"context"
	"fmt"
)

// cmdClassify is not implemented yet; its work stream replaces this file.
func cmdClassify(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.err, "ipamwatch: 'classify' is not implemented yet")
	return 1
}
