package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/logparse"
)

// nodeAlerts are one alert per node: causes that belong to the node itself (its instance type,
// ENIs, kubelet, instance metadata, its ipamd) and its IP ceiling.
func (x builder) nodeAlerts() []Alert {
	sc := perNode
	w := x.t("failureWindow")
	q := func(metric string, m ...string) string { return x.sq(sc, metric, m...) }
	pending := x.count(sc, "sum("+q("ipamwatch_pods_pending_ip")+")", "unknown")
	ceiling := x.lbl(sc, q("ipamwatch_binding_ceiling")+" == 1", "ceiling", "unknown")
	instanceType := x.lbl(sc, q("ipamwatch_node_info"), "instance_type", "unknown")
	capMax := x.count(sc, "max("+q("ipamwatch_capacity_max_pod_ips")+")", "unknown")
	maxPods := x.count(sc, "max("+q("ipamwatch_kubelet_max_pods")+")", "unknown")
	finding := func(name string, c diagnosis.Cause, forDur, meaning, desc string) Alert {
		return x.findingAlert(GroupNode, name, c, sc, forDur, meaning, desc)
	}
	by := x.by(sc)

	return []Alert{
		{
			Name: "IpamwatchENILimitPodsWaiting", Group: GroupNode, Scope: sc, Severity: diagnosis.AdviceFor(diagnosis.CauseENILimit).Severity, For: "10m",
			Expr: fmt.Sprintf(`
				max by (%[1]s) (%[2]s) > 0
				and on (%[1]s)
				(max by (%[1]s) (%[3]s) >= max by (%[1]s) (%[4]s))
				and on (%[1]s)
				sum by (%[1]s) (%[5]s) == 0`,
				by, x.s("ipamwatch_pods_pending_ip"), x.s("ipamwatch_enis_attached"), x.s("ipamwatch_enis_max"),
				x.s("ipamwatch_ip_addresses", `state="free"`)),
			Summary: diagnosis.AdviceFor(diagnosis.CauseENILimit).Title,
			Description: fmt.Sprintf("{{ $labels.node }} has every ENI it may use attached, no free address, and {{ $value | printf \"%%.0f\" }} pods waiting for an IP; it can hold %s pod IPs and kubelet admits %s pods.",
				capMax, maxPods),
			Meaning: "The node reached its ENI limit (the default network card's, after MAX_ENI, the trunk slot and custom networking), has no free address left and pods are still waiting: kubelet admits more pods than the ENIs can address.",
			Cause:   diagnosis.CauseENILimit,
		},
		finding("IpamwatchIPPoolEmpty", diagnosis.CauseIPPoolEmpty, "15m",
			"Pods found no free IP in ipamd's pool and none of the known ceilings explains it: the pool lagged behind a burst, or the cause is one ipamd did not log.",
			fmt.Sprintf("{{ $labels.node }}: pods found no free IP and no known cause explains it; %s pods wait for an IP and the binding ceiling is %s.",
				pending, ceiling)),
		{
			Name: "IpamwatchIPPoolNearCeiling", Group: GroupNode, Scope: sc, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr: fmt.Sprintf(`
				node:ipamwatch_capacity_used:ratio > %[1]s
				and on (%[2]s)
				max by (%[2]s) (%[3]s) == 1`,
				x.t("poolCeilingRatio"), by, x.s("ipamwatch_binding_ceiling", `ceiling!~"none|max_pods"`)),
			Summary: "A node uses most of the pod IPs it can ever hold and cannot grow its pool.",
			Description: fmt.Sprintf("{{ $labels.node }} uses {{ $value | humanizePercentage }} of the %s pod IPs it can ever hold and cannot grow its pool: the binding ceiling is %s.",
				capMax, ceiling),
			Meaning: "More than the pool-ceiling share of the node's pod IPs is assigned and a ceiling other than max-pods stops the pool from growing.",
		},
		finding("IpamwatchMaxPodsNotRaised", diagnosis.CauseMaxPodsNotRaised, "30m",
			"Prefix delegation was enabled without raising kubelet max-pods, so kubelet still caps the node at the old density.",
			fmt.Sprintf("{{ $labels.node }} runs prefix delegation and could hold %s pod IPs, but kubelet max-pods is still %s, the secondary-IP value.", capMax, maxPods)),
		finding("IpamwatchMaxPodsAboveIPCapacity", diagnosis.CauseMaxPodsExceedsIPCapacity, "30m",
			"kubelet max-pods is higher than the pod IPs the node's ENIs can ever provide (for example a static 110 without prefix delegation).",
			fmt.Sprintf("kubelet on {{ $labels.node }} admits up to %s pods but the node can ever hold only %s pod IPs.", maxPods, capMax)),
		finding("IpamwatchIMDSFailing", diagnosis.CauseIMDSFailure, "10m",
			"ipamd cannot read instance metadata: ENI discovery and reconciliation fail on the node.",
			fmt.Sprintf("{{ $labels.node }}: ipamd cannot read instance metadata (%s IMDS lines in the CNI logs in %s).",
				x.count(sc, fmt.Sprintf("sum(increase(%s[%s]))", q("ipamwatch_log_events_total", classIs(logparse.IMDSFailure)), w), "0"), w)),
		finding("IpamwatchIpamdUnreachable", diagnosis.CauseIPAMDUnreachable, "5m",
			"The agent cannot reach ipamd's introspection API: aws-node is down, restarting, or introspection is disabled or bound elsewhere.",
			fmt.Sprintf("{{ $labels.node }}: ipamd's introspection endpoint does not answer (last successful poll %s); %s pods wait for an IP.",
				x.age(sc, "max("+q("ipamwatch_source_last_success_timestamp_seconds", `source="ipamd"`)+" > 0)", "never"), pending)),
		{
			Name: "IpamwatchBranchENIBudgetLow", Group: GroupNode, Scope: sc, Severity: diagnosis.AdviceFor(diagnosis.CauseBranchENIExhausted).Severity, For: "15m",
			Expr: fmt.Sprintf(`
				max by (%[1]s) (%[2]s)
				/
				max by (%[1]s) (%[3]s > 0)
				>= %[4]s
				or
				%[5]s`,
				by, x.s("ipamwatch_branch_eni_requested"), x.s("ipamwatch_branch_eni_capacity"), x.t("branchENIRatio"),
				x.finding(diagnosis.CauseBranchENIExhausted, sc)),
			Summary: diagnosis.AdviceFor(diagnosis.CauseBranchENIExhausted).Title,
			Description: fmt.Sprintf("{{ $labels.node }}: pods request %s of the %s branch ENIs (vpc.amazonaws.com/pod-eni) the node advertises.",
				x.count(sc, "max("+q("ipamwatch_branch_eni_requested")+")", "unknown"), x.count(sc, "max("+q("ipamwatch_branch_eni_capacity")+")", "unknown")),
			Meaning: "Pods with security groups for pods request most of the node's branch ENIs (the branch-ENI share), or branch ENI allocation already failed.",
			Cause:   diagnosis.CauseBranchENIExhausted,
		},
		finding("IpamwatchCustomNetworkingNotApplied", diagnosis.CauseCustomNetworkingNotApplied, "30m",
			"Custom networking is on, yet pods sit in the node's own subnet: it applies only to ENIs attached after it was enabled, with an ENIConfig whose subnet differs from the node's.",
			fmt.Sprintf("{{ $labels.node }}: custom networking is on (ENIConfig %s) but %s pod addresses sit on the primary ENI, in the node's own subnet.",
				x.lbl(sc, q("ipamwatch_config_info"), "eniconfig", "unknown"),
				x.count(sc, fmt.Sprintf("sum(%s and on (%s) %s)", q("ipamwatch_eni_ip_addresses", `state="assigned"`), x.by(sc, "eni"), x.s("ipamwatch_eni_info", `primary="true"`)), "0"))),
		finding("IpamwatchAWSNodeNotReady", diagnosis.CauseAWSNodeNotReady, "5m",
			"aws-node does not serve the CNI plugin on the node (the plugin's gRPC connection refused, ipamd's start-up failed or panicked, or it cannot reach the API server): no pod there gets an IP.",
			fmt.Sprintf("{{ $labels.node }}: aws-node is not serving pods (%s aws-node start-up and connection lines in the CNI logs in %s); %s pods wait for an IP.",
				x.count(sc, fmt.Sprintf("sum(increase(%s[%s]))", q("ipamwatch_log_events_total", classIn(logparse.AWSNodeNotReady, logparse.AWSNodeInitFailed, logparse.AWSNodePanic, logparse.AWSNodeAPIServerUnreachable)), w), "0"), w, pending)),
		finding("IpamwatchIPCooldownStarvation", diagnosis.CauseIPCooldownStarvation, "10m",
			"Under pod churn every address the node's pool holds is assigned or cooling down (IP_COOLDOWN_PERIOD) while the node has room: ipamd counts cooling addresses as available and does not add more.",
			fmt.Sprintf("{{ $labels.node }}: %s addresses in cooldown and none free while %s pods wait for an IP.",
				x.count(sc, "sum("+q("ipamwatch_ip_addresses", `state="cooldown"`)+")", "unknown"), pending)),
		finding("IpamwatchPrefixDelegationUnsupported", diagnosis.CausePrefixDelegationUnsupported, "30m",
			"ENABLE_PREFIX_DELEGATION=true on a Xen (non-Nitro) instance: ipamd falls back to secondary IPs, so the expected density is not there.",
			fmt.Sprintf("{{ $labels.node }} (%s) is not a Nitro instance: ENABLE_PREFIX_DELEGATION is ignored and the node holds at most %s pod IPs.",
				instanceType, capMax)),
	}
}
