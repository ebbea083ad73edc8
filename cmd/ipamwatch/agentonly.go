//go:build agentonly

package main

import (
	"context"
	"errors"
	"fmt"
)

// The DaemonSet image carries an agent-only binary (`go build -tags agentonly`): demo,
// subnets and the EC2 lookups of maxpods (--instance-type, --all) are left out, because
// their dependencies (the EC2 API client, client-go's fake clientset) made the agent's
// resident memory about twice node_exporter's. Below are their stand-ins. The commands and
// their flags are declared in both builds, so `ipamwatch --help`, completion and scripts see
// the same command line, and a left-out command says where the real one is instead of
// failing as unknown.

// errNotInBuild is what a left-out command or lookup says.
var errNotInBuild = errors.New("not in this build; use the full ipamwatch binary")

func runDemo(_ context.Context, _ *demoOptions, s streams) int { return notInBuild(s, "demo") }

func runSubnets(_ context.Context, o *subnetsOptions, s streams) int {
	if err := o.validate(); err != nil { // a wrong command line is wrong in both builds
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return exitError
	}
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
