package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// subnetAlerts are one alert per subnet, from the nodes' own data: the subnet-wide causes
// (every node allocating from a full or fragmented subnet fails alike, so 40 nodes page once),
// and rollups of what nodes hold there (lower bounds of the subnet's real use).
func (x builder) subnetAlerts() []Alert {
	sc := perSubnet
	frag := x.p.SubnetMetrics.FragmentationRatio
	return []Alert{
		x.findingAlert(GroupSubnet, "IpamwatchSubnetExhausted", diagnosis.CauseSubnetExhausted, sc, "2m",
			"EC2 answered InsufficientFreeAddressesInSubnet: the subnet nodes allocate from is full, so no node there can grow its pool. One alert per subnet (the subnet_id of ipamwatch_node_info), listing the nodes.",
			fmt.Sprintf("EC2 has no free address left in subnet {{ $labels.subnet_id }} for "+nodeCount+": %s. Nodes hold %s addresses in the subnet.",
				x.findingNodes(diagnosis.CauseSubnetExhausted, sc),
				x.count(sc, "max("+x.sq(sc, "subnet_id:ipamwatch_subnet_node_held_addresses:sum")+")", "unknown"))),
		x.findingAlert(GroupSubnet, "IpamwatchPrefixFragmented", diagnosis.CausePrefixFragmented, sc, "5m",
			"With prefix delegation, EC2 answered InsufficientCidrBlocks: the subnet's free addresses are scattered and no whole /28 is left. One alert per subnet, listing the nodes.",
			fmt.Sprintf("EC2 finds no free aligned /28 in subnet {{ $labels.subnet_id }} for "+nodeCount+": %s. Share of the free addresses outside whole /28 blocks: %s.",
				x.findingNodes(diagnosis.CausePrefixFragmented, sc),
				x.pct(sc, "max("+x.sq(sc, frag)+")", "unknown (the subnet view is not deployed)"))),
		x.findingAlert(GroupSubnet, "IpamwatchLeakedENIs", diagnosis.CauseLeakedENIs, sc, "1h",
			"The cluster-level subnet analysis (ipamwatch subnets) finds detached ENIs the VPC CNI created and left behind in the subnet: they hold its addresses and count against the ENI quota. One alert per subnet.",
			fmt.Sprintf("Subnet {{ $labels.subnet_id }} holds %s leaked CNI ENIs with %s addresses, seen by "+nodeCount+": %s.",
				x.count(sc, "max("+x.sq(sc, "ipamwatch_subnet_leaked_enis")+")", "unknown"),
				x.count(sc, "max("+x.sq(sc, "ipamwatch_subnet_leaked_eni_addresses")+")", "unknown"),
				x.findingNodes(diagnosis.CauseLeakedENIs, sc))),
		{
			Name: "IpamwatchWarmPoolHoarding", Group: GroupSubnet, Scope: sc, For: "1h",
			Severity:    diagnosis.SeverityWarning,
			SeverityWhy: "one node's spare addresses are information; idle warm pools holding a fifth of a subnet starve the other nodes there",
			Expr: fmt.Sprintf(`
				subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="free"}
				/ on (%[1]s)
				subnet_id:ipamwatch_subnet_cidr_addresses:max
				> %[2]s
				and on (%[1]s)
				subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="free"} >= %[3]s`,
				x.by(sc), x.t("hoardingSubnetRatio"), x.t("hoardingMinIdle")),
			Summary: "Warm pools hold a large share of a subnet idle.",
			Description: fmt.Sprintf("Nodes hold %s idle warm addresses in subnet {{ $labels.subnet_id }}, {{ $value | humanizePercentage }} of its %s addresses.",
				x.count(sc, "sum("+x.sq(sc, "subnet_id_state:ipamwatch_eni_ip_addresses:sum", `state="free"`)+")", "unknown"),
				x.count(sc, "max("+x.sq(sc, "subnet_id:ipamwatch_subnet_cidr_addresses:max")+")", "unknown")),
			Meaning: "Idle (free) addresses held by nodes' warm pools exceed the hoarding share of a subnet: other nodes may run out while these sit unused.",
			Cause:   diagnosis.CauseWarmPoolHoarding,
		},
		{
			Name: "IpamwatchSubnetNodeHeldHigh", Group: GroupSubnet, Scope: sc, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr:    fmt.Sprintf(`subnet_id:ipamwatch_subnet_node_held_addresses:ratio > %s`, x.t("subnetHeldRatio")),
			Summary: "Nodes hold most of a subnet's addresses.",
			Description: fmt.Sprintf("Nodes hold at least {{ $value | humanizePercentage }} of the %s addresses of subnet {{ $labels.subnet_id }}; AWS reserves 5 more and other users of the subnet are not counted. New ENIs and prefixes there will soon fail.",
				x.count(sc, "max("+x.sq(sc, "subnet_id:ipamwatch_subnet_cidr_addresses:max")+")", "unknown")),
			Meaning: "The addresses nodes hold in a subnet (ENI primaries, secondary IPs, prefixes) exceed the held share of its size: a lower bound, the subnet is at least this full.",
		},
		x.forecastAlert(),
	}
}
