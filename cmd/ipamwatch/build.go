package main

import "errors"

// The DaemonSet image carries an agent-only binary (`go build -tags agentonly`): demo,
// subnets and the EC2 lookups of maxpods (--instance-type, --all) are left out, because
// their dependencies (the EC2 API client, client-go's fake clientset) made the agent's
// resident memory about twice node_exporter's. Those commands stay in the command list and
// answer errNotInBuild there (agentonly.go).

// errNotInBuild is what a left-out command or lookup says in the agent-only build.
var errNotInBuild = errors.New("not in this build; use the full ipamwatch binary")
