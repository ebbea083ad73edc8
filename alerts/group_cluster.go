package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/logparse"
)

// clusterAlerts are one alert per cluster: the symptom (pods cannot get an IP, whatever the
// cause) and the causes whose reach is the account and region (EC2 quota, API rate limits,
// IAM) or the whole cluster (the aws-node ClusterRole, the aws-node DaemonSet's warm-pool
// settings). An IAM regression under 40 nodes pages once, and lists the nodes.
func (x builder) clusterAlerts() []Alert {
	sc := perCluster
	w := x.t("failureWindow")
	pending := x.count(sc, "sum("+x.sq(sc, "ipamwatch_pods_pending_ip")+")", "unknown")
	apiErrors := func(codes string) string {
		return x.count(sc, fmt.Sprintf("sum(increase(%s[%s]))", x.sq(sc, "ipamwatch_cni_aws_api_errors_total", `code=~"`+codes+`"`), w), "0")
	}
	logEvents := func(class logparse.Class) string {
		return x.count(sc, fmt.Sprintf("sum(increase(%s[%s]))", x.sq(sc, "ipamwatch_log_events_total", classIn(class)), w), "0")
	}

	// failing is the set of nodes where pods fail to get an IP now: failures in the window
	// AND pods still waiting for an IP (when the agent knows; without the Kubernetes source
	// the failures alone count). A burst that outruns the warm pool fails a few pod ADDs and
	// is over in seconds.
	failing := fmt.Sprintf(`
		(
		  sum by (%[1]s) (increase(%[2]s[%[3]s])) > 0
		  or
		  sum by (%[1]s) (increase(%[4]s[%[3]s])) > 0
		  or
		  max by (%[1]s) (%[5]s) == 1
		)
		unless on (%[1]s)
		(sum by (%[1]s) (%[6]s) == 0)`,
		x.by(perNode),
		x.s("ipamwatch_log_events_total", classIn(logparse.IPPoolEmpty, logparse.AllocFailed)), w,
		x.s("ipamwatch_cni_no_available_ip_total"),
		x.s("ipamwatch_finding", fmt.Sprintf("cause=%q", diagnosis.CauseIPPoolEmpty)),
		x.s("ipamwatch_pods_pending_ip"))

	return []Alert{
		{
			Name: "IpamwatchPodIPAllocationFailing", Group: GroupCluster, Scope: sc, Severity: diagnosis.SeverityCritical, For: "5m",
			Expr:    x.agg("count", sc, "\n"+indent(trim(failing), "  ")+"\n"),
			Summary: "Pods cannot get an IP address.",
			Description: fmt.Sprintf("Pods cannot get an IP on "+nodeCount+": %s. %s pods wait for an IP. The cause alerts (subnet, quota, IAM, ENI limit, ...) and each node's /diagnosis name the cause.",
				x.nodes(sc, x.withinCluster(oneLine(failing))), pending),
			Meaning: "Pods fail to get an IP now (CNI log errors, the CNI's no-available-IP counter, or an empty pool) and wait, on one or more nodes: one alert per cluster, the description lists the nodes. A symptom: the cause alert names why.",
		},
		x.findingAlert(GroupCluster, "IpamwatchENIQuotaExceeded", diagnosis.CauseENIQuota, sc, "5m",
			"EC2 answered NetworkInterfaceLimitExceeded: the account's regional ENI quota is used up, no node in the region can add an ENI. One alert per cluster.",
			fmt.Sprintf("EC2 creates no ENI for "+nodeCount+", the account's regional network-interface quota is reached: %s. %s pods wait for an IP.",
				x.findingNodes(diagnosis.CauseENIQuota, sc), pending)),
		x.findingAlert(GroupCluster, "IpamwatchEC2Throttled", diagnosis.CauseEC2Throttled, sc, "10m",
			"EC2 answers RequestLimitExceeded to ipamd (after the SDK's retries): EC2's rate limits are per account and region, so allocation slows down on many nodes. One alert per cluster.",
			fmt.Sprintf("EC2 throttles ipamd on "+nodeCount+": %s. The CNI counted %s throttled EC2 calls in %s.",
				x.findingNodes(diagnosis.CauseEC2Throttled, sc), apiErrors("RequestLimitExceeded|Throttling|ThrottlingException"), w)),
		x.findingAlert(GroupCluster, "IpamwatchIAMDenied", diagnosis.CauseUnauthorized, sc, "5m",
			"EC2 answered UnauthorizedOperation / AccessDenied: the IAM role aws-node uses lacks permissions, no node using it can add addresses. One alert per cluster.",
			fmt.Sprintf("EC2 denies ipamd's calls on "+nodeCount+": %s. The CNI counted %s denied calls in %s.",
				x.findingNodes(diagnosis.CauseUnauthorized, sc), apiErrors("UnauthorizedOperation|AccessDenied"), w)),
		x.findingAlert(GroupCluster, "IpamwatchAWSNodeRBACDenied", diagnosis.CauseAWSNodeRBACDenied, sc, "5m",
			"The Kubernetes API refuses aws-node (`... is forbidden: User \"system:serviceaccount:kube-system:aws-node\"`): its ClusterRole or binding is missing or lacks a verb. Cluster-wide, so one alert per cluster.",
			fmt.Sprintf("The API server refuses aws-node on "+nodeCount+": %s. %s forbidden lines in the CNI logs in %s.",
				x.findingNodes(diagnosis.CauseAWSNodeRBACDenied, sc), logEvents(logparse.AWSNodeRBACDenied), w)),
		x.findingAlert(GroupCluster, "IpamwatchWarmTargetConflict", diagnosis.CauseWarmTargetConflict, sc, "30m",
			"The aws-node warm-pool settings make ipamd keep no spare addresses or ask for impossible ones (zero targets under prefix delegation, WARM_ENI_TARGET=0 alone, MINIMUM_IP_TARGET above what a node can hold). The settings live on the aws-node DaemonSet, so one alert per cluster.",
			fmt.Sprintf("The aws-node warm-pool settings leave no spare addresses or ask for impossible ones on "+nodeCount+": %s. Each node's /diagnosis names the setting.",
				x.findingNodes(diagnosis.CauseWarmTargetConflict, sc))),
		x.findingAlert(GroupCluster, "IpamwatchCustomNetworkingMisconfigured", diagnosis.CauseCustomNetworkingMisconfig, sc, "10m",
			"Custom networking is on but ipamd cannot use the nodes' ENIConfig (missing, misnamed for the node's label, unreadable, or in another zone): those nodes get no secondary ENIs. ENIConfigs are cluster objects, so one alert per cluster.",
			fmt.Sprintf("ipamd cannot use the ENIConfig on "+nodeCount+": %s. %s ENIConfig lines in the CNI logs in %s.",
				x.findingNodes(diagnosis.CauseCustomNetworkingMisconfig, sc), logEvents(logparse.ENIConfigUnavailable), w)),
		x.findingAlert(GroupCluster, "IpamwatchSubnetDiscoveryExcluded", diagnosis.CauseSubnetDiscoveryExcluded, sc, "10m",
			"Subnet discovery finds no subnet ipamd may create ENIs in (kubernetes.io/role/cni tags): the nodes cannot add ENIs. Subnet tags are account objects, so one alert per cluster.",
			fmt.Sprintf("ipamd finds no subnet to create ENIs in on "+nodeCount+": %s.",
				x.findingNodes(diagnosis.CauseSubnetDiscoveryExcluded, sc))),
		x.findingAlert(GroupCluster, "IpamwatchCNIUnknownInstanceType", diagnosis.CauseCNIUnknownInstanceType, sc, "10m",
			"The VPC CNI version does not know the nodes' instance type and cannot compute their ENI limits: upgrading the add-on fixes every node, so one alert per cluster.",
			fmt.Sprintf("The VPC CNI does not know the instance type of "+nodeCount+": %s.",
				x.findingNodes(diagnosis.CauseCNIUnknownInstanceType, sc))),
		x.findingAlert(GroupCluster, "IpamwatchWarmPoolCapped", diagnosis.CauseWarmPoolCapped, sc, "30m",
			"MINIMUM_IP_TARGET is set and WARM_IP_TARGET is unset or 0: ipamd stops allocating once a node holds MINIMUM_IP_TARGET addresses, even with pods waiting. A DaemonSet setting, so one alert per cluster.",
			fmt.Sprintf("MINIMUM_IP_TARGET without WARM_IP_TARGET stops the pools at the minimum (%s addresses) on "+nodeCount+": %s.",
				x.count(sc, "max("+x.sq(sc, "ipamwatch_config_warm_target", `setting="minimum_ip_target"`)+")", "unknown"),
				x.findingNodes(diagnosis.CauseWarmPoolCapped, sc))),
	}
}
