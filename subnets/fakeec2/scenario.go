package fakeec2

// LoadProdCluster fills the server with the "prod" cluster that the subnets tests share.
// The expected numbers are worked out by hand in subnets/ec2_test.go.
//
//   - subnet-a 10.0.0.0/24 (tag kubernetes.io/cluster/prod): node i-node1 holds single IPs
//     and two /28 prefixes; a NAT gateway, a branch ENI and an instance outside the cluster
//     hold one address each; one prefix and two explicit reservations.
//   - subnet-b 10.0.1.0/26 (tag karpenter.sh/discovery=prod): fragmented, no free /28.
//   - subnet-c 10.2.0.0/16 (tag kubernetes.io/role/cni=1, same VPC): a /16.
//   - subnet-v6 (tag kubernetes.io/cluster/prod): IPv6-only.
//   - subnet-x (role/cni=1 in another VPC) and subnet-y (untagged): not the cluster's.
func (s *Server) LoadProdCluster() {
	s.Lock()
	defer s.Unlock()
	prod := map[string]string{"cluster.k8s.amazonaws.com/name": "prod"}
	nodeTags := func(instance string) map[string]string {
		return map[string]string{"cluster.k8s.amazonaws.com/name": "prod", "node.k8s.amazonaws.com/instance_id": instance}
	}
	s.Subnets = []Subnet{
		{ID: "subnet-a", VPCID: "vpc-1", AZ: "us-west-2a", AZID: "usw2-az1", CIDR: "10.0.0.0/24", Available: 192,
			Tags: map[string]string{"kubernetes.io/cluster/prod": "shared", "Name": "prod-a"}},
		{ID: "subnet-b", VPCID: "vpc-1", AZ: "us-west-2b", AZID: "usw2-az2", CIDR: "10.0.1.0/26", Available: 56,
			Tags: map[string]string{"karpenter.sh/discovery": "prod"}},
		{ID: "subnet-c", VPCID: "vpc-1", AZ: "us-west-2c", AZID: "usw2-az3", CIDR: "10.2.0.0/16", Available: 65481,
			Tags: map[string]string{"kubernetes.io/role/cni": "1"}},
		{ID: "subnet-v6", VPCID: "vpc-1", AZ: "us-west-2a", AZID: "usw2-az1", IPv6CIDRs: []string{"2600:1f14:abc:de00::/64"},
			Tags: map[string]string{"kubernetes.io/cluster/prod": "owned"}},
		{ID: "subnet-x", VPCID: "vpc-2", AZ: "us-west-2a", CIDR: "10.9.0.0/24", Available: 251,
			Tags: map[string]string{"kubernetes.io/role/cni": "1"}},
		{ID: "subnet-y", VPCID: "vpc-1", AZ: "us-west-2a", CIDR: "10.0.2.0/24", Available: 251},
	}
	s.ENIs = []ENI{
		{ID: "eni-a1", SubnetID: "subnet-a", Type: "interface", InstanceID: "i-node1", PrimaryIP: "10.0.0.10",
			SecondaryIPs: []string{"10.0.0.20", "10.0.0.21"}, Description: "node primary"},
		{ID: "eni-a2", SubnetID: "subnet-a", Type: "interface", InstanceID: "i-node1", PrimaryIP: "10.0.0.40",
			Prefixes: []string{"10.0.0.48/28", "10.0.0.64/28"}, Description: "aws-K8S-i-node1", Tags: nodeTags("i-node1")},
		{ID: "eni-a3", SubnetID: "subnet-a", Type: "natGateway", PrimaryIP: "10.0.0.100", Description: "Interface for NAT Gateway"},
		{ID: "eni-a4", SubnetID: "subnet-a", Type: "interface", InstanceID: "i-other", PrimaryIP: "10.0.0.150"},
		{ID: "eni-a5", SubnetID: "subnet-a", Type: "branch", PrimaryIP: "10.0.0.151", Description: "aws-k8s-branch-eni", Tags: prod},
		{ID: "eni-b1", SubnetID: "subnet-b", Type: "interface", InstanceID: "i-node2", PrimaryIP: "10.0.1.5"},
		{ID: "eni-b2", SubnetID: "subnet-b", Type: "interface", InstanceID: "i-node2", PrimaryIP: "10.0.1.20",
			SecondaryIPs: []string{"10.0.1.36"}, Tags: nodeTags("i-node2")},
		{ID: "eni-c1", SubnetID: "subnet-c", Type: "interface", InstanceID: "i-node3", PrimaryIP: "10.2.0.10",
			Prefixes: []string{"10.2.0.16/28", "10.2.0.32/28", "10.2.128.0/28"}, Tags: nodeTags("i-node3")},
		{ID: "eni-c2", SubnetID: "subnet-c", Type: "lambda", PrimaryIP: "10.2.255.100"},
		// Left behind by a node that is gone: detached, created by the CNI (its tags and
		// description, as ipamd's getLeakedENIs looks for them), older than 5 minutes.
		{ID: "eni-c3", SubnetID: "subnet-c", Type: "interface", Status: "available", PrimaryIP: "10.2.200.10",
			SecondaryIPs: []string{"10.2.200.11"}, Description: "aws-K8S-i-gone",
			Tags: map[string]string{"node.k8s.amazonaws.com/instance_id": "i-gone", "node.k8s.amazonaws.com/createdAt": "2026-01-01T00:00:00Z", "cluster.k8s.amazonaws.com/name": "prod"}},
		{ID: "eni-x1", SubnetID: "subnet-x", Type: "interface", InstanceID: "i-far", PrimaryIP: "10.9.0.9"},
	}
	s.Reservations = []Reservation{
		{ID: "scr-a1", SubnetID: "subnet-a", CIDR: "10.0.0.160/27", Type: "prefix"},
		{ID: "scr-a2", SubnetID: "subnet-a", CIDR: "10.0.0.192/28", Type: "explicit"},
		{ID: "scr-a3", SubnetID: "subnet-a", CIDR: "10.0.0.240/30", Type: "explicit"},
	}
	s.InstanceTypes = []InstanceType{
		{Name: "m5.large", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", CardMaxENIs: []int{3}},
		{Name: "t3.medium", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 6, Hypervisor: "nitro", CardMaxENIs: []int{3}},
		{Name: "m4.large", VCPUs: 2, MaxENIs: 2, IPv4PerENI: 10, Hypervisor: "xen"},
		{Name: "m5.metal", VCPUs: 96, MaxENIs: 15, IPv4PerENI: 50, BareMetal: true, CardMaxENIs: []int{15}},
		// A made-up multi-card type: the CNI uses the default card's interfaces only.
		{Name: "fake.multicard", VCPUs: 192, MaxENIs: 6, IPv4PerENI: 50, Hypervisor: "nitro", CardMaxENIs: []int{4, 2}},
	}
}
