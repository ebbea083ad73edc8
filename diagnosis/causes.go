package diagnosis

// Severities, most urgent first.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Finding causes. The names are a public contract: metric label values, JSON, docs.
const (
	CauseSubnetExhausted             = "subnet_exhausted"
	CausePrefixFragmented            = "prefix_fragmented"
	CauseENILimit                    = "eni_limit"
	CauseENIQuota                    = "eni_quota"
	CauseEC2Throttled                = "ec2_throttled"
	CauseUnauthorized                = "unauthorized"
	CauseIMDSFailure                 = "imds_failure"
	CauseIPPoolEmpty                 = "ip_pool_empty"
	CauseBranchENIExhausted          = "branch_eni_exhausted"
	CauseMaxPodsNotRaised            = "max_pods_not_raised"
	CauseMaxPodsExceedsIPCapacity    = "max_pods_exceeds_ip_capacity"
	CauseWarmTargetConflict          = "warm_target_conflict"
	CauseWarmPoolHoarding            = "warm_pool_hoarding"
	CauseCustomNetworkingNotApplied  = "custom_networking_not_applied"
	CausePrefixDelegationUnsupported = "prefix_delegation_unsupported"
	CauseIPAMDUnreachable            = "ipamd_unreachable"
	CauseIPv6Mode                    = "ipv6_mode"
)

// Binding ceilings: what stops the next pod from getting an IP first.
const (
	CeilingNone                = "none"
	CeilingMaxPods             = "max_pods"
	CeilingENI                 = "eni"
	CeilingSubnet              = "subnet"
	CeilingPrefixFragmentation = "prefix_fragmentation"
	CeilingThrottling          = "throttling"
	CeilingBranchENI           = "branch_eni"
	CeilingUnauthorized        = "unauthorized"
	CeilingIMDS                = "imds"
	CeilingIPAMD               = "ipamd"
	CeilingUnknown             = "unknown"
)

// CauseInfo names a finding cause and its fixed severity (used together as metric labels).
type CauseInfo struct {
	Name     string `json:"name"`
	Severity string `json:"severity"`
}

// causeTable is the one place severities are decided. Critical: pods cannot get an IP and
// it will not heal by itself. Warning: a misconfiguration or a ceiling that hurts pods now
// or soon. Info: worth knowing, harmless on its own.
var causeTable = [...]CauseInfo{
	{CauseSubnetExhausted, SeverityCritical},
	{CausePrefixFragmented, SeverityCritical},
	{CauseENILimit, SeverityWarning},
	{CauseENIQuota, SeverityCritical},
	{CauseEC2Throttled, SeverityWarning},
	{CauseUnauthorized, SeverityCritical},
	{CauseIMDSFailure, SeverityWarning},
	{CauseIPPoolEmpty, SeverityWarning},
	{CauseBranchENIExhausted, SeverityWarning},
	{CauseMaxPodsNotRaised, SeverityWarning},
	{CauseMaxPodsExceedsIPCapacity, SeverityWarning},
	{CauseWarmTargetConflict, SeverityWarning},
	{CauseWarmPoolHoarding, SeverityInfo},
	{CauseCustomNetworkingNotApplied, SeverityWarning},
	{CausePrefixDelegationUnsupported, SeverityWarning},
	{CauseIPAMDUnreachable, SeverityWarning},
	{CauseIPv6Mode, SeverityInfo},
}

// Causes returns every finding cause with its severity, in a stable order.
func Causes() []CauseInfo {
	out := make([]CauseInfo, len(causeTable))
	copy(out, causeTable[:])
	return out
}

// SeverityOf returns the fixed severity of a cause, or "" for an unknown cause.
func SeverityOf(cause string) string {
	for _, c := range causeTable {
		if c.Name == cause {
			return c.Severity
		}
	}
	return ""
}

// Ceilings returns every binding-ceiling value in a stable order.
func Ceilings() []string {
	return []string{
		CeilingNone, CeilingMaxPods, CeilingENI, CeilingSubnet, CeilingPrefixFragmentation,
		CeilingThrottling, CeilingBranchENI, CeilingUnauthorized, CeilingIMDS, CeilingIPAMD,
		CeilingUnknown,
	}
}

func severityRank(s string) int {
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
