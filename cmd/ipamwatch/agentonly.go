//go:build agentonly

package main

import (
	"context"
	"fmt"
)

// Stand-ins for the commands the agent-only build leaves out (see build.go). They keep the
// dispatcher's command list identical in both builds, so `ipamwatch help` and scripts see the
// same commands, and say where the real command is instead of failing as unknown.

func cmdDemo(_ context.Context, _ []string, s streams) int { return notInBuild(s, "demo") }

func cmdSubnets(_ context.Context, _ []string, s streams) int { return notInBuild(s, "subnets") }

// lookupInstanceTypes is maxpods' EC2 lookup (--instance-type, --all); maxpods without EC2
// (--enis/--ips-per-eni, --live) works in this build.
func lookupInstanceTypes(context.Context, ec2LookupOptions, []string) ([]instanceTypeLimits, error) {
	return nil, errNotInBuild
}

func notInBuild(s streams, name string) int {
	fmt.Fprintf(s.err, "ipamwatch %s: %v\n", name, errNotInBuild)
	return 2
}
