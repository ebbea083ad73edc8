//go:build !agentonly

package main

import (
	"context"

	"github.com/ipamwatch/ipamwatch/subnets"
)

// lookupInstanceTypes asks EC2 DescribeInstanceTypes (paginated, 100 names a call) for the
// named types, or for every type of the region when types is empty. Credentials come from
// the default chain; the IAM action is ec2:DescribeInstanceTypes.
func lookupInstanceTypes(ctx context.Context, o ec2LookupOptions, types []string) ([]instanceTypeLimits, error) {
	api, err := subnets.NewClient(ctx, subnets.ClientOptions{Region: o.Region, Endpoint: o.Endpoint})
	if err != nil {
		return nil, err
	}
	its, err := subnets.DescribeInstanceTypes(ctx, api, types)
	if err != nil {
		return nil, err
	}
	out := make([]instanceTypeLimits, 0, len(its))
	for _, t := range its {
		out = append(out, instanceTypeLimits{
			InstanceType: t.Name, ENIs: t.ENIs, IPv4PerENI: t.IPv4PerENI, VCPUs: t.VCPUs,
			Hypervisor: t.Hypervisor, BareMetal: t.BareMetal,
		})
	}
	return out, nil
}
