//go:build agentonly

package main

import (
	"context"
	"fmt"
)

// Stand-ins for what the agent-only build leaves out (see build.go). The commands and their
// flags are declared in both builds, so `ipamwatch --help`, completion and scripts see the
// same command line, and a left-out command says where the real one is instead of failing
// as unknown.

func runDemo(_ context.Context, _ *demoOptions, s streams) int { return notInBuild(s, "demo") }

func runSubnets(_ context.Context, _ *subnetsOptions, s streams) int {
	return notInBuild(s, "subnets")
}

// lookupInstanceTypes is maxpods' EC2 lookup (--instance-type, --all); maxpods without EC2
// (--enis/--ips-per-eni, --live) works in this build.
func lookupInstanceTypes(context.Context, ec2LookupOptions, []string) ([]instanceTypeLimits, error) {
	return nil, errNotInBuild
}

func notInBuild(s streams, name string) int {
	fmt.Fprintf(s.err, "ipamwatch %s: %v\n", name, errNotInBuild)
	return exitError
}
