package diagnosis

// The diagnosis's vocabulary. Each name is a small string type defined here once, with its
// list and its meaning beside it; the values are a public contract (metric label values,
// JSON, docs). A cause's explanation, fix, confirm and verify live in the advice table
// (advice.go and advice/*.md), not here.

// Severity ranks a finding. Critical: pods cannot get an IP and it will not heal by itself.
// Warning: a misconfiguration or a ceiling that hurts pods now or soon. Info: worth knowing,
// harmless on its own.
type Severity string

// Severities, most urgent first.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Severities returns every severity, most urgent first.
func Severities() []Severity {
	return []Severity{SeverityCritical, SeverityWarning, SeverityInfo}
}

func (s Severity) rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityWarning:
		return 1
	case SeverityInfo:
		return 2
	}
	return 3
}

// Cause names a diagnosed finding. Its severity and advice come from the advice table.
type Cause string

// Finding causes. The order here is the order of Causes() and of the docs.
const (
	CauseSubnetExhausted             Cause = "subnet_exhausted"
	CausePrefixFragmented            Cause = "prefix_fragmented"
	CauseENILimit                    Cause = "eni_limit"
	CauseENIQuota                    Cause = "eni_quota"
	CauseEC2Throttled                Cause = "ec2_throttled"
	CauseUnauthorized                Cause = "unauthorized"
	CauseAWSNodeRBACDenied           Cause = "aws_node_rbac_denied"
	CauseIMDSFailure                 Cause = "imds_failure"
	CauseIPPoolEmpty                 Cause = "ip_pool_empty"
	CauseBranchENIExhausted          Cause = "branch_eni_exhausted"
	CauseMaxPodsNotRaised            Cause = "max_pods_not_raised"
	CauseMaxPodsExceedsIPCapacity    Cause = "max_pods_exceeds_ip_capacity"
	CauseWarmTargetConflict          Cause = "warm_target_conflict"
	CauseWarmPoolCapped              Cause = "warm_pool_capped"
	CauseWarmPoolHoarding            Cause = "warm_pool_hoarding"
	CauseCustomNetworkingNotApplied  Cause = "custom_networking_not_applied"
	CausePrefixDelegationUnsupported Cause = "prefix_delegation_unsupported"
	CauseIPAMDUnreachable            Cause = "ipamd_unreachable"
	CauseIPv6Mode                    Cause = "ipv6_mode"
	CauseAWSNodeNotReady             Cause = "aws_node_not_ready"
	CauseCustomNetworkingMisconfig   Cause = "custom_networking_misconfigured"
	CauseSubnetDiscoveryExcluded     Cause = "subnet_discovery_excluded"
	CauseIPCooldownStarvation        Cause = "ip_cooldown_starvation"
	CauseLeakedENIs                  Cause = "leaked_enis"
	CauseCNIUnknownInstanceType      Cause = "cni_unknown_instance_type"
)

// Causes returns every finding cause in a stable order.
func Causes() []Cause {
	return []Cause{
		CauseSubnetExhausted, CausePrefixFragmented, CauseENILimit, CauseENIQuota, CauseEC2Throttled,
		CauseUnauthorized, CauseAWSNodeRBACDenied, CauseIMDSFailure, CauseIPPoolEmpty,
		CauseBranchENIExhausted, CauseMaxPodsNotRaised,
		CauseMaxPodsExceedsIPCapacity, CauseWarmTargetConflict, CauseWarmPoolCapped,
		CauseWarmPoolHoarding, CauseCustomNetworkingNotApplied, CausePrefixDelegationUnsupported,
		CauseIPAMDUnreachable, CauseIPv6Mode, CauseAWSNodeNotReady, CauseCustomNetworkingMisconfig,
		CauseSubnetDiscoveryExcluded, CauseIPCooldownStarvation, CauseLeakedENIs, CauseCNIUnknownInstanceType,
	}
}

// Severity is the cause's fixed severity ("" for an unknown cause).
func (c Cause) Severity() Severity { return AdviceFor(c).Severity }

// Ceiling names what stops the next pod from getting an IP first. Ceilings are named after
// the resource that runs out or the thing that blocks the pool, never after a cause.
type Ceiling string

// Binding ceilings.
const (
	CeilingNone                Ceiling = "none"
	CeilingMaxPods             Ceiling = "max_pods"
	CeilingENI                 Ceiling = "eni"
	CeilingSubnet              Ceiling = "subnet"
	CeilingPrefixFragmentation Ceiling = "prefix_fragmentation"
	CeilingThrottling          Ceiling = "throttling"
	CeilingBranchENI           Ceiling = "branch_eni"
	CeilingIAM                 Ceiling = "iam"
	CeilingInstanceMetadata    Ceiling = "instance_metadata"
	CeilingWarmTarget          Ceiling = "warm_target"
	CeilingENICreation         Ceiling = "eni_creation"
	CeilingIPAMD               Ceiling = "ipamd"
	CeilingUnknown             Ceiling = "unknown"
)

// ceilingTable holds each ceiling's meaning, for docs and the text report.
var ceilingTable = [...]struct {
	c    Ceiling
	text string
}{
	{CeilingNone, "nothing binds: the node has headroom and nothing blocks the pool"},
	{CeilingMaxPods, "kubelet max-pods: the node admits no more pods"},
	{CeilingENI, "the instance's ENI and per-ENI address limits (or the account's ENI quota)"},
	{CeilingSubnet, "the subnet has no free address"},
	{CeilingPrefixFragmentation, "the subnet has no free aligned /28 for a prefix"},
	{CeilingThrottling, "EC2 throttles ipamd's calls"},
	{CeilingBranchENI, "the node's branch-ENI budget (security groups for pods)"},
	{CeilingIAM, "IAM denies ipamd's EC2 calls"},
	{CeilingInstanceMetadata, "ipamd cannot read the instance metadata service"},
	{CeilingWarmTarget, "the warm-pool settings stop the pool from growing (MINIMUM_IP_TARGET without WARM_IP_TARGET, addresses in cooldown counted as available)"},
	{CeilingENICreation, "ipamd may create no ENI: custom networking's ENIConfig or subnet discovery leaves it no subnet"},
	{CeilingIPAMD, "ipamd does not answer: nothing is known and pods may get no IP"},
	{CeilingUnknown, "not enough data to tell"},
}

// Ceilings returns every binding-ceiling value in a stable order.
func Ceilings() []Ceiling {
	out := make([]Ceiling, len(ceilingTable))
	for i, e := range ceilingTable {
		out[i] = e.c
	}
	return out
}

// Meaning is the ceiling's one-line explanation ("" for an unknown value).
func (c Ceiling) Meaning() string {
	for _, e := range ceilingTable {
		if e.c == c {
			return e.text
		}
	}
	return ""
}

// IPMode is how ipamd hands out pod addresses, as in the node_info metric's ip_mode label.
type IPMode string

// IP modes.
const (
	ModeSecondary IPMode = "secondary_ip" // one /32 secondary IP per slot
	ModePrefix    IPMode = "prefix"       // one /28 prefix (16 addresses) per slot
	ModeIPv6      IPMode = "ipv6"         // one IPv6 /80 per ENI
	ModeUnknown   IPMode = "unknown"
)

// IPModes returns every IP mode in a stable order.
func IPModes() []IPMode { return []IPMode{ModeSecondary, ModePrefix, ModeIPv6, ModeUnknown} }

// Basis says what a finding rests on. A finding made from logs alone is still reported,
// marked as such, with the confirm step that would settle it.
type Basis string

// Bases, strongest first.
const (
	// BasisCorroborated: the node's live state (ipamd, CNI metrics, Kubernetes) backs it.
	BasisCorroborated Basis = "corroborated"
	// BasisLogsOnly: only log lines say so; the sources that would corroborate it are missing.
	BasisLogsOnly Basis = "logs only"
)
