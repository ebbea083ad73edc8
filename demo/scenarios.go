package demo

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Spec describes one simulated node and how it evolves.
type Spec struct {
	Name        string
	Description string
	// Expect names the finding causes the diagnosis should report (documentation and tests).
	Expect []string

	InstanceType string
	VCPUs        int
	Nitro        bool
	// InstanceENIs and IPv4PerENI are the instance type's limits (what EC2 would report).
	InstanceENIs int
	IPv4PerENI   int

	CNIVersion string
	// Mode is "secondary", "prefix" or "ipv6".
	Mode string
	// Env is the aws-node container env (strings as in the DaemonSet).
	Env map[string]string

	KubeletMaxPods  int
	HostNetworkPods int
	// TargetPods gives the number of non-host-network pods the workload wants at t.
	TargetPods func(t time.Duration) int

	// Subnets: the node's own subnet, and the pod subnet under custom networking.
	NodeSubnet Subnet
	PodSubnet  *Subnet
	// CustomApplied is false when custom networking was switched on after the node started:
	// its ENIs stay in the node subnet and pods sit on the primary ENI.
	CustomApplied bool

	// Failure is what blocks pool growth when it happens: "", "subnet", "fragmented", "throttled", "unauthorized".
	Failure string
	// FailAfter is when the failure starts (growth works before).
	FailAfter time.Duration

	// Branch ENIs (security groups for pods).
	BranchCapacity int
	BranchPods     func(t time.Duration) int

	// NoiseLinesPerSecond is routine ipamd debug output besides what the simulation itself logs.
	NoiseLinesPerSecond int

	// ViewSpeedup makes the simulated cluster view (`ipamwatch subnets`) poll EC2 this many times
	// faster than real time (0 = real time), so a trend over its polls shows within a minute.
	ViewSpeedup float64
}

// Subnet is a simulated VPC subnet.
type Subnet struct {
	ID   string
	CIDR string
	// FreeAddresses is how many addresses other tenants leave free for this node (-1 = plenty).
	FreeAddresses int
	// FreeBlocks is how many aligned /28 blocks are free (-1 = plenty); fragmentation = free addresses but no blocks.
	FreeBlocks int
	// DrainPerHour is how many addresses other holders take per hour of the cluster view's
	// clock (Spec.ViewSpeedup), so that the subnet runs out at a known rate.
	DrainPerHour float64
}

// steady returns a function that ramps to n over the first 20 s, then wobbles by +-w pods.
func steady(n, w int) func(time.Duration) int {
	return func(t time.Duration) int {
		sec := t.Seconds()
		if sec < 20 {
			return int(float64(n) * sec / 20)
		}
		return n + int(math.Round(float64(w)*math.Sin(sec/7)))
	}
}

func baseEnv() map[string]string {
	return map[string]string{
		"WARM_ENI_TARGET":                    "1",
		"ENABLE_PREFIX_DELEGATION":           "false",
		"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
		"ENABLE_POD_ENI":                     "false",
		"ENABLE_IPv4":                        "true",
		"ENABLE_IPv6":                        "false",
		"AWS_VPC_K8S_CNI_LOGLEVEL":           "DEBUG",
		"ENABLE_SUBNET_DISCOVERY":            "true",
	}
}

func with(env map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

var nodeSubnet = Subnet{ID: "subnet-0a1b2c3d4e5f60718", CIDR: "10.20.32.0/20", FreeAddresses: -1, FreeBlocks: -1}

// Scenarios lists the built-in scenarios, healthy first.
func Scenarios() []Spec {
	m5large := func(s Spec) Spec {
		s.InstanceType, s.VCPUs, s.Nitro, s.InstanceENIs, s.IPv4PerENI = "m5.large", 2, true, 3, 10
		if s.CNIVersion == "" {
			s.CNIVersion = "v1.20.4"
		}
		if s.NodeSubnet.ID == "" {
			s.NodeSubnet = nodeSubnet
		}
		return s
	}
	list := []Spec{
		m5large(Spec{
			Name:        "healthy",
			Description: "m5.large in secondary-IP mode, 18 pods of 27 possible, no errors",
			Mode:        "secondary", Env: baseEnv(), KubeletMaxPods: 29, HostNetworkPods: 2,
			TargetPods: steady(16, 2),
		}),
		m5large(Spec{
			Name:        "subnet-exhausted",
			Description: "the node subnet runs out of addresses while pods scale up",
			Expect:      []string{"subnet_exhausted"},
			Mode:        "secondary", Env: baseEnv(), KubeletMaxPods: 29, HostNetworkPods: 2,
			TargetPods: steady(26, 1),
			NodeSubnet: Subnet{ID: "subnet-0c9d8e7f6a5b40312", CIDR: "10.20.48.0/24", FreeAddresses: 6, FreeBlocks: 0},
			Failure:    "subnet", FailAfter: 5 * time.Second,
		}),
		m5large(Spec{
			Name:        "prefix-fragmented",
			Description: "prefix delegation: free addresses remain in the subnet but no aligned /28",
			Expect:      []string{"prefix_fragmented"},
			Mode:        "prefix", Env: with(baseEnv(), "ENABLE_PREFIX_DELEGATION", "true", "WARM_PREFIX_TARGET", "1"),
			KubeletMaxPods: 110, HostNetworkPods: 2, TargetPods: steady(60, 2),
			NodeSubnet: Subnet{ID: "subnet-0f1e2d3c4b5a69788", CIDR: "10.20.64.0/22", FreeAddresses: 140, FreeBlocks: 1},
			Failure:    "fragmented", FailAfter: 5 * time.Second,
		}),
		m5large(Spec{
			Name:        "eni-limit",
			Description: "MAX_ENI=2 caps the node below what kubelet admits: every ENI is full, pods wait",
			Expect:      []string{"eni_limit"},
			Mode:        "secondary", Env: with(baseEnv(), "MAX_ENI", "2"), KubeletMaxPods: 29, HostNetworkPods: 2,
			TargetPods: steady(24, 1),
		}),
		m5large(Spec{
			Name:        "max-pods-not-raised",
			Description: "prefix delegation on, kubelet max-pods still 29: kubelet caps density, IPs idle",
			Expect:      []string{"max_pods_not_raised"},
			Mode:        "prefix", Env: with(baseEnv(), "ENABLE_PREFIX_DELEGATION", "true", "WARM_PREFIX_TARGET", "1"),
			KubeletMaxPods: 29, HostNetworkPods: 2, TargetPods: steady(40, 0),
		}),
		m5large(Spec{
			Name:        "max-pods-too-high",
			Description: "secondary-IP mode with a static max-pods of 110: kubelet admits pods that cannot get an IP",
			Expect:      []string{"max_pods_exceeds_ip_capacity"},
			Mode:        "secondary", Env: baseEnv(), KubeletMaxPods: 110, HostNetworkPods: 2,
			TargetPods: steady(36, 1),
		}),
		m5large(Spec{
			Name:        "warm-conflict",
			Description: "prefix delegation with every warm target at zero: unsupported, ipamd keeps no spare prefix",
			Expect:      []string{"warm_target_conflict"},
			Mode:        "prefix", Env: with(baseEnv(), "ENABLE_PREFIX_DELEGATION", "true", "WARM_PREFIX_TARGET", "0", "WARM_IP_TARGET", "0", "MINIMUM_IP_TARGET", "0"),
			KubeletMaxPods: 110, HostNetworkPods: 2, TargetPods: steady(20, 2),
		}),
		m5large(Spec{
			Name:        "custom-networking-stale",
			Description: "custom networking switched on after the node started: pods still on the node subnet",
			Expect:      []string{"custom_networking_not_applied"},
			Mode:        "secondary", Env: with(baseEnv(), "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "true", "ENI_CONFIG_LABEL_DEF", "topology.kubernetes.io/zone"),
			KubeletMaxPods: 29, HostNetworkPods: 2, TargetPods: steady(14, 2),
			PodSubnet:     &Subnet{ID: "subnet-0d4c3b2a1f0e98765", CIDR: "100.64.0.0/19", FreeAddresses: -1, FreeBlocks: -1},
			CustomApplied: false,
		}),
		m5large(Spec{
			Name:        "throttled",
			Description: "EC2 throttles ipamd's calls: the pool cannot grow while pods scale up",
			Expect:      []string{"ec2_throttled"},
			Mode:        "secondary", Env: baseEnv(), KubeletMaxPods: 29, HostNetworkPods: 2,
			TargetPods: steady(25, 1), Failure: "throttled", FailAfter: 5 * time.Second,
		}),
		m5large(Spec{
			Name:        "branch-eni",
			Description: "security groups for pods: the node's branch-ENI budget is used up",
			Expect:      []string{"branch_eni_exhausted"},
			Mode:        "secondary", Env: with(baseEnv(), "ENABLE_POD_ENI", "true", "POD_SECURITY_GROUP_ENFORCING_MODE", "standard"),
			KubeletMaxPods: 29, HostNetworkPods: 2, TargetPods: steady(12, 1),
			BranchCapacity: 9, BranchPods: func(t time.Duration) int { return min(12, 4+int(t.Seconds()/3)) },
		}),
		{
			Name:         "ipv6",
			Description:  "IPv6 cluster: one /80 prefix per ENI, IPv4 ceilings do not apply",
			Expect:       []string{"ipv6_mode"},
			InstanceType: "m5.large", VCPUs: 2, Nitro: true, InstanceENIs: 3, IPv4PerENI: 10, CNIVersion: "v1.20.4",
			Mode: "ipv6", Env: with(baseEnv(), "ENABLE_IPv6", "true", "ENABLE_IPv4", "false", "ENABLE_PREFIX_DELEGATION", "true"),
			KubeletMaxPods: 110, HostNetworkPods: 2, TargetPods: steady(30, 3), NodeSubnet: nodeSubnet,
		},
		m5large(Spec{
			Name: "subnet-hours-left",
			Description: "a /22 with 180 free addresses that others take at 50 an hour (the cluster view runs 60x faster): " +
				"hours left, and the warm-setting what-if (WARM_ENI_TARGET=1 vs the CNI docs' WARM_IP_TARGET=2)",
			Mode: "secondary", Env: baseEnv(), KubeletMaxPods: 29, HostNetworkPods: 2,
			TargetPods:  steady(12, 0),
			NodeSubnet:  Subnet{ID: "subnet-0b7a6c5d4e3f21098", CIDR: "10.20.72.0/22", FreeAddresses: 180, FreeBlocks: -1, DrainPerHour: 50},
			ViewSpeedup: 60,
		}),
		{
			Name:         "large",
			Description:  "a 15-ENI node (c5n.18xlarge-like) in secondary-IP mode with hundreds of pods and busy logs",
			InstanceType: "c5n.18xlarge", VCPUs: 72, Nitro: true, InstanceENIs: 15, IPv4PerENI: 50, CNIVersion: "v1.20.4",
			Mode: "secondary", Env: baseEnv(), KubeletMaxPods: 737, HostNetworkPods: 4, TargetPods: steady(480, 20),
			NodeSubnet:          Subnet{ID: "subnet-0e5d6c7b8a9f01234", CIDR: "10.20.0.0/19", FreeAddresses: -1, FreeBlocks: -1},
			NoiseLinesPerSecond: 180,
		},
	}
	return list
}

// Lookup returns the named scenario.
func Lookup(name string) (Spec, error) {
	var names []string
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return Spec{}, fmt.Errorf("unknown scenario %q (have %v)", name, names)
}
