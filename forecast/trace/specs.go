package trace

import (
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
)

// Instance types of the traces (amazon-vpc-cni-k8s v1.23.0 pkg/vpc/vpc_ip_resource_limit.go;
// max-pods from misc/eni-max-pods.txt, 110 under prefix delegation).
var (
	m5large     = forecast.Limits{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, MaxPods: 29}
	m5xlargePD  = forecast.Limits{InstanceType: "m5.xlarge", ENIs: 4, IPv4PerENI: 15, MaxPods: 110}
	c5n18xlarge = forecast.Limits{InstanceType: "c5n.18xlarge", ENIs: 15, IPv4PerENI: 50, MaxPods: 737}
)

// Standard are the traces the forecast is measured on (docs/forecast.md).
func Standard() []Spec {
	warmPrefix1 := forecast.Settings{PrefixDelegation: true, WarmENITarget: 1, WarmPrefixTarget: 1}
	return []Spec{
		{
			// Secondary IPs, WARM_ENI_TARGET=1: every node holds its 3 ENIs (30 addresses) once it
			// runs 20 pods. 60 pods/h means a node every 20 minutes, ~90 addresses/h.
			Name: "linear", Shape: Linear, Duration: 20 * time.Hour, Seed: 1,
			SubnetID: "subnet-0aa1linear00000", CIDRSize: 2048, OtherUsed: 150,
			Limits: m5large, Settings: forecast.DefaultSettings(),
			Nodes: 20, Pods: 400, PodsPerNode: 20, GrowthPerHour: 60, ChurnPerHour: 0.1,
		},
		{
			// Prefix delegation, WARM_PREFIX_TARGET=1: 50 pods a node hold 5 prefixes + 1.
			Name: "linear-prefix", Shape: Linear, Duration: 20 * time.Hour, Seed: 2,
			SubnetID: "subnet-0aa2linearpd000", CIDRSize: 4096, OtherUsed: 300,
			Limits: m5xlargePD, Settings: warmPrefix1,
			Nodes: 10, Pods: 500, PodsPerNode: 50, GrowthPerHour: 150, ChurnPerHour: 0.1,
		},
		{
			// Bursts of 80 pods (4 nodes) every 90 minutes on average, flat in between.
			Name: "bursty", Shape: Bursty, Duration: 20 * time.Hour, Seed: 3,
			SubnetID: "subnet-0aa3bursty00000", CIDRSize: 2048, OtherUsed: 150,
			Limits: m5large, Settings: forecast.DefaultSettings(),
			Nodes: 15, Pods: 300, PodsPerNode: 20, BurstPods: 80, BurstEvery: 90 * time.Minute, ChurnPerHour: 0.1,
		},
		{
			// No growth: 460 pods wandering by about 40, half of them replaced every hour, the
			// autoscaler adding and removing nodes as they go. WARM_IP_TARGET=3 makes the held
			// addresses follow the pods closely (the hardest case for a trend on flat use).
			Name: "churn", Shape: Churn, Duration: 20 * time.Hour, Seed: 4,
			SubnetID: "subnet-0aa4churn000000", CIDRSize: 1024, OtherUsed: 160,
			Limits: m5large, Settings: forecast.Settings{WarmENITarget: 1, WarmIPTarget: 3},
			Nodes: 26, Pods: 460, PodsPerNode: 20, Wobble: 40, ChurnPerHour: 0.5,
		},
		{
			// No growth: a node replaced every 20 minutes (a rolling node-group upgrade that
			// never ends), in a subnet 85% full.
			Name: "recycle", Shape: Recycle, Duration: 20 * time.Hour, Seed: 5,
			SubnetID: "subnet-0aa5recycle0000", CIDRSize: 1024, OtherUsed: 60,
			Limits: m5large, Settings: forecast.DefaultSettings(),
			Nodes: 26, Pods: 460, PodsPerNode: 20, RecycleEvery: 20 * time.Minute, ChurnPerHour: 0.1,
		},
		{
			// The demo's `large` scenario on 8 nodes: 480 pods each, wobbling by 20 every few
			// seconds, 11 ENIs of 49 addresses held per node; /19 subnet 80% full.
			Name: "large", Shape: Large, Duration: 20 * time.Hour, Seed: 6,
			SubnetID: "subnet-0aa6large000000", CIDRSize: 8192, OtherUsed: 2200,
			Limits: c5n18xlarge, Settings: forecast.DefaultSettings(),
			Nodes: 8, Pods: 480, PodsPerNode: 737, Wobble: 20,
		},
	}
}
