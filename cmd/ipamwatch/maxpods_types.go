package main

// instanceTypeLimits is what EC2 DescribeInstanceTypes says about one instance type.
type instanceTypeLimits struct {
	InstanceType string
	ENIs         int    // MaximumNetworkInterfaces on the default network card
	IPv4PerENI   int    // Ipv4AddressesPerInterface
	VCPUs        int    // DefaultVCpus
	Hypervisor   string // "nitro", "xen" or "" for bare metal
	BareMetal    bool
}

// ec2LookupOptions says which EC2 endpoint to ask.
type ec2LookupOptions struct {
	Region   string
	Endpoint string // empty = the SDK's default resolution
}
