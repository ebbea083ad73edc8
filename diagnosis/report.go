package diagnosis

import (
	"time"
)

// Options tunes the diagnosis. The zero value is usable: zero fields take the defaults.
type Options struct {
	// Now is the time the report is for (ages of log lines); zero = the state's Time.
	Now time.Time
	// HoardingMinIdle is the least number of idle addresses (free + cooldown) worth a
	// warm_pool_hoarding finding. Default 30.
	HoardingMinIdle int
	// HoardingRatio is how many times the assigned addresses the idle ones must exceed.
	// Default 2.
	HoardingRatio float64
	// MaxPodsMargin is how far the prefix-mode target must exceed kubelet max-pods before
	// max_pods_not_raised fires. Default 10.
	MaxPodsMargin int
	// SubnetLowRatio and SubnetLowNodes say when the report carries the what-if of the node's
	// pod subnet: free addresses below this share of the subnet, or room for fewer than this
	// many more nodes like this one (exact counts of the cluster view). Defaults 0.2 and 10.
	SubnetLowRatio float64
	SubnetLowNodes int
	// SubnetRunsOutWithin: a pod subnet that runs out sooner at the cluster view's trend is low
	// too. Default 4h.
	SubnetRunsOutWithin time.Duration
}

// Defaults for Options.
const (
	DefaultHoardingMinIdle = 30
	DefaultHoardingRatio   = 2
	DefaultMaxPodsMargin   = 10
)

func (o Options) withDefaults(st time.Time) Options {
	if o.Now.IsZero() {
		o.Now = st
	}
	if o.HoardingMinIdle <= 0 {
		o.HoardingMinIdle = DefaultHoardingMinIdle
	}
	if o.HoardingRatio <= 0 {
		o.HoardingRatio = DefaultHoardingRatio
	}
	if o.MaxPodsMargin <= 0 {
		o.MaxPodsMargin = DefaultMaxPodsMargin
	}
	if o.SubnetLowRatio <= 0 {
		o.SubnetLowRatio = DefaultSubnetLowRatio
	}
	if o.SubnetLowNodes <= 0 {
		o.SubnetLowNodes = DefaultSubnetLowNodes
	}
	if o.SubnetRunsOutWithin <= 0 {
		o.SubnetRunsOutWithin = DefaultSubnetRunsOutWithin
	}
	return o
}

// Report is the diagnosis of one node.
type Report struct {
	Node     NodeFacts `json:"node"`
	Capacity Capacity  `json:"capacity"`
	// Headroom is how many more pods can get an IP on this node now, after every known
	// ceiling (-1 unknown).
	Headroom int `json:"headroom"`
	// BindingCeiling names the ceiling that stops pods now: the one that has run out
	// (headroom 0) or one that blocks the pool from growing (subnet, throttling, ...).
	// "none" while the node has headroom and nothing blocks; "unknown" without IP data.
	BindingCeiling Ceiling `json:"binding_ceiling"`
	// NearestCeiling is the ceiling that will stop pods first as the node fills up (the one
	// with the least room), whether or not it binds yet.
	NearestCeiling Ceiling   `json:"nearest_ceiling"`
	Config         Config    `json:"config"`
	Findings       []Finding `json:"findings"`
	// Missing names the node sources the report had to do without, each with what a person
	// can add to be sure (empty when the agent or a full bundle saw everything).
	Missing []MissingSource `json:"missing_sources,omitempty"`
	// Partial lists the sources that answered only in part, each with what it did not say
	// (ipamd's optional routes that failed), "source: why"; absent when every source that
	// answered did so in full.
	Partial []string `json:"partial,omitempty"`
	// Forecast is what one more node like this one claims, and the what-if of the node's pod
	// subnet when it is low (docs/forecast.md); absent without the numbers it needs.
	Forecast *Forecast `json:"forecast,omitempty"`
}

// MissingSource is a source the diagnosis lacked and how to get it.
type MissingSource struct {
	Source string `json:"source"`
	// Add is what to add to be sure: a command or a file of the log-collector bundle.
	Add string `json:"add"`
}

// NodeFacts identifies the node.
type NodeFacts struct {
	Name             string `json:"name"`
	InstanceID       string `json:"instance_id"`
	InstanceType     string `json:"instance_type"`
	Region           string `json:"region"`
	AvailabilityZone string `json:"availability_zone"`
	AZID             string `json:"availability_zone_id"`
	PrimarySubnet    string `json:"subnet_id"`
	IPMode           IPMode `json:"ip_mode"`
	CNIVersion       string `json:"cni_version"`
}

// Capacity is the node's capacity per ceiling. Every count is -1 when unknown.
type Capacity struct {
	Mode IPMode `json:"mode"`
	// ENIs attached and managed by ipamd; MaxENIs ipamd may use (awscni_eni_max).
	ENIs    int `json:"enis"`
	MaxENIs int `json:"max_enis"`
	// SlotsPerENI is the per-ENI IPv4 limit minus the primary address.
	SlotsPerENI int `json:"slots_per_eni"`
	// Prefixes is the number of /28 prefixes attached.
	Prefixes int `json:"prefixes"`
	// HeldIPs is pod addresses the ENIs hold now; AssignedIPs those in use by pods;
	// FreeIPs can be handed out now; CooldownIPs were released and wait out IP_COOLDOWN_PERIOD.
	HeldIPs     int `json:"held_ips"`
	AssignedIPs int `json:"assigned_ips"`
	FreeIPs     int `json:"free_ips"`
	CooldownIPs int `json:"cooldown_ips"`
	// AttachedCapacity is pod addresses the attached ENIs could hold with all slots filled.
	AttachedCapacity int `json:"attached_capacity"`
	// MaxCapacity is pod addresses the node could ever hold: PodENIsMax x per-ENI addresses
	// in the mode.
	MaxCapacity int `json:"max_capacity"`
	// PodENIsMax is the ENIs that may carry pod addresses: awscni_eni_max less the primary ENI
	// under custom networking, the trunk's slot and the ENIs excluded from pod IPs.
	PodENIsMax int `json:"pod_enis_max"`
	// TrunkSlotReserved: an ENI slot goes to the trunk of security groups for pods; ipamd
	// reserves it before the trunk is attached (TrunkAttached false).
	TrunkSlotReserved bool `json:"trunk_slot_reserved"`
	TrunkAttached     bool `json:"trunk_attached"`
	// ExcludedENIs are ENIs excluded from pod IPs (CNI v1.22+).
	ExcludedENIs int `json:"excluded_enis"`
	// KubeletMaxPods is node allocatable pods (or the kubelet config's maxPods).
	KubeletMaxPods  int `json:"kubelet_max_pods"`
	Pods            int `json:"pods"`
	HostNetworkPods int `json:"host_network_pods"`
	PendingPods     int `json:"pending_pods"`
	// BranchENICapacity is vpc.amazonaws.com/pod-eni capacity (0 = not advertised).
	BranchENICapacity  int `json:"branch_eni_capacity"`
	BranchENIRequested int `json:"branch_eni_requested"`
}

// Finding is one diagnosed cause with its proof and remedy. Explanation, Fix, Confirm and
// Verify come from the cause's advice (AdviceFor); Summary and Evidence are what the rule
// measured.
type Finding struct {
	Cause       Cause    `json:"cause"`
	Severity    Severity `json:"severity"`
	Summary     string   `json:"summary"`
	Explanation string   `json:"explanation"`
	Evidence    []string `json:"evidence"`
	// Basis says what the finding rests on: "corroborated", or "logs only" when the sources
	// that would corroborate it were missing (Confirm then settles it).
	Basis   Basis  `json:"basis"`
	Fix     string `json:"fix"`
	Confirm string `json:"confirm"`
	Verify  string `json:"verify"`
}

// HasProblems reports whether the report holds a warning or critical finding.
func (r Report) HasProblems() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityCritical || f.Severity == SeverityWarning {
			return true
		}
	}
	return false
}
