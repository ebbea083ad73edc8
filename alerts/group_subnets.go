package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// subnetViewAlerts read the cluster-level subnet series of `ipamwatch subnets` (EC2's own
// numbers, not the nodes'): one alert per subnet, and one for the analysis going stale.
func (x builder) subnetViewAlerts() []Alert {
	sm := x.p.SubnetMetrics
	sc := perSubnet
	w := x.t("failureWindow")
	by := x.by(sc)
	return []Alert{
		{
			Name: "IpamwatchSubnetFreeAddressesLow", Group: GroupSubnets, Scope: sc, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr: fmt.Sprintf(`
				max by (%[1]s) (%[2]s)
				/
				max by (%[1]s) (%[3]s > 0)
				< %[4]s`,
				by, x.s(sm.FreeAddresses), x.s(sm.Size), x.t("subnetFreeRatio")),
			Summary: "A subnet used by the cluster has few free addresses left.",
			Description: fmt.Sprintf("Subnet {{ $labels.subnet_id }} has %s free addresses left ({{ $value | humanizePercentage }} of %s, from the cluster's subnet analysis).",
				x.count(sc, "max("+x.sq(sc, sm.FreeAddresses)+")", "unknown"),
				x.count(sc, "max("+x.sq(sc, sm.Size)+")", "unknown")),
			Meaning: "The subnet analysis finds less than the subnet-free share of the subnet's addresses free: node pools there will soon stop growing.",
		},
		{
			Name: "IpamwatchSubnetFreePrefixBlocksLow", Group: GroupSubnets, Scope: sc, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr: fmt.Sprintf(`
				max by (%[1]s) (%[2]s) < %[3]s
				and on (%[1]s)
				max by (%[1]s) (%[4]s) >= %[5]s
				and on (%[1]s)
				count by (%[1]s) (%[6]s and on (%[7]s) %[8]s)`,
				by, x.s(sm.FreePrefixBlocks), x.t("subnetFreePrefixBlocksMin"),
				x.s(sm.FreeAddresses), x.times(16, "subnetFreePrefixBlocksMin"),
				x.s("ipamwatch_eni_info"), x.by(perNode), x.s("ipamwatch_config_info", `prefix_delegation="true"`)),
			Summary: "A subnet used with prefix delegation has free addresses but almost no free /28 blocks.",
			Description: fmt.Sprintf("Subnet {{ $labels.subnet_id }} has %s free addresses but only {{ $value | printf \"%%.0f\" }} free aligned /28 blocks: nodes with prefix delegation cannot add prefixes there.",
				x.count(sc, "max("+x.sq(sc, sm.FreeAddresses)+")", "unknown")),
			Meaning: "Fewer free /28 blocks than the minimum although the free addresses would fill them: prefix delegation nodes in the subnet will fail with InsufficientCidrBlocks.",
		},
		{
			Name: "IpamwatchSubnetAnalysisStale", Group: GroupSubnets, Scope: perCluster, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr:    fmt.Sprintf(`time() - %s > %s`, x.agg("max", perCluster, x.s(sm.LastSuccess)), x.seconds("subnetStale")),
			Summary: "The cluster-level subnet analysis has not succeeded for a long time.",
			Description: fmt.Sprintf("The subnet analysis (ipamwatch subnets) last succeeded %s; %s failed EC2 polls in %s. Subnet free-address and /28 alerts use stale numbers.",
				x.age(perCluster, "max("+x.sq(perCluster, sm.LastSuccess)+" > 0)", "never"),
				x.count(perCluster, fmt.Sprintf("sum(increase(%s[%s]))", x.sq(perCluster, sm.Errors), w), "0"), w),
			Meaning: "The subnet analysis' last successful EC2 poll is older than the staleness limit (or it never succeeded): EC2 access, IAM or leader election fails.",
		},
	}
}
