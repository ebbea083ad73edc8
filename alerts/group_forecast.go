package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/forecast"
)

// Recorded series and the alert of the subnet forecast (docs/forecast.md); the dashboards and
// the forecast's measurement read them by these names.
const (
	RecordFreeNodeLocal     = "subnet_id:ipamwatch_subnet_free_addresses:node_local"
	RecordFreeExact         = "subnet_id:ipamwatch_subnet_free_addresses:exact"
	RecordFree              = "subnet_id:ipamwatch_subnet_free_addresses:best"
	RecordConsumption       = "subnet_id:ipamwatch_subnet_consumption_addresses_per_second:deriv"
	RecordConsumptionLong   = "subnet_id:ipamwatch_subnet_consumption_addresses_per_second:deriv_long"
	RecordExhaustion        = "subnet_id:ipamwatch_subnet_exhaustion_seconds:forecast"
	RecordIdleShare         = "subnet_id:ipamwatch_subnet_idle_addresses:ratio"
	RecordClaim             = "subnet_id_instance_type_scenario:ipamwatch_forecast_claim_addresses:max"
	RecordPodsPerNode       = "subnet_id_instance_type:ipamwatch_pods_per_node:avg"
	RecordHeadroomNodes     = "subnet_id_instance_type_scenario:ipamwatch_forecast_headroom_nodes:floor"
	RecordHeadroomPods      = "subnet_id_instance_type_scenario:ipamwatch_forecast_headroom_pods:mul"
	RecordFix               = "subnet_id:ipamwatch_forecast_fix:info"
	RecordHeld              = "subnet_id:ipamwatch_subnet_node_held_addresses:sum"
	RecordNodesDelta        = "subnet_id:ipamwatch_nodes:delta"
	AlertExhaustionForecast = "IpamwatchSubnetExhaustionForecast"
	recCIDR                 = "subnet_id:ipamwatch_subnet_cidr_addresses:max"
	recNodes                = "subnet_id:ipamwatch_nodes:count"
	warmFixHeadroomMul      = "1.25"
)

// forecastRecordings are the subnet forecast: free addresses on the best basis known (exact
// from `ipamwatch subnets`, else the CIDR less what nodes hold), the consumption rate (a
// least-squares slope over the forecast windows), the time to exhaustion, the idle share, and
// the what-if headroom per instance type and warm-settings scenario from the agents'
// ipamwatch_forecast_claim_addresses. Later rules read earlier ones: Prometheus evaluates a
// group's rules in order.
func (x builder) forecastRecordings() []Recording {
	var out []Recording
	rec := func(name, expr string) {
		out = append(out, Recording{Group: GroupRecording, Record: name, Expr: expr})
	}
	s := perSubnet
	on := "on (" + x.by(s) + ")"
	node := "on (" + x.by(perNode) + ")"
	rec(RecordFreeNodeLocal, fmt.Sprintf(`clamp_min(%s - %d - %s %s, 0)`, recCIDR, forecast.AWSReservedAddresses, on, RecordHeld))
	rec(RecordFreeExact, x.agg("max", s, x.s(x.p.SubnetMetrics.FreeAddresses)))
	rec(RecordFree, fmt.Sprintf(`
		label_replace(%s, "basis", %q, "", "")
		or %s
		label_replace(%s, "basis", %q, "", "")`, RecordFreeExact, forecast.BasisExact, on, RecordFreeNodeLocal, forecast.BasisNodeLocal))
	// Exact free addresses fall as the subnet fills (every holder counts); the nodes' sum rises.
	rate := func(window string) string {
		return fmt.Sprintf(`
			-deriv(%s[%s])
			or %s
			deriv(%s[%s])`, RecordFreeExact, window, on, RecordHeld, window)
	}
	rec(RecordConsumption, rate(x.t("forecastWindow")))
	rec(RecordConsumptionLong, rate(x.t("forecastLongWindow")))
	// group_left keeps the basis label (one-to-one matching with on() keeps only those labels).
	rec(RecordExhaustion, fmt.Sprintf(`%s / %s group_left () (%s > 0)`, RecordFree, on, RecordConsumption))
	// Nodes with ENIs in the subnet now less the window ago (net: nodes replaced count zero).
	rec(RecordNodesDelta, fmt.Sprintf(`%s - %s offset %s`, recNodes, recNodes, x.t("forecastWindow")))
	rec(RecordIdleShare, fmt.Sprintf(`
		%s
		/ %s
		%s`, x.agg("sum", s, `subnet_id_state:ipamwatch_eni_ip_addresses:sum{state!="assigned"}`), on, recCIDR))
	rec(RecordClaim, x.agg("max", s, fmt.Sprintf(`
		  %s
		  * %s group_left (instance_type)
		  %s
		`, x.s("ipamwatch_forecast_claim_addresses"), node, x.agg("max", perNode, x.s("ipamwatch_node_info"), "instance_type")),
		"instance_type", "scenario"))
	rec(RecordPodsPerNode, x.agg("avg", s, fmt.Sprintf(`
		  (
		    %s * 0
		    + %s group_left (instance_type)
		    %s
		  ) * 0
		  + %s group_left
		  %s
		`, x.agg("max", perNode, x.s("ipamwatch_forecast_claim_addresses", `scenario="current"`), "subnet_id"),
		node, x.agg("max", perNode, x.s("ipamwatch_node_info"), "instance_type"),
		node, x.agg("max", perNode, x.s("ipamwatch_pods", `network="pod"`))),
		"instance_type"))
	rec(RecordHeadroomNodes, fmt.Sprintf(`floor(%s / %s group_right (basis) (%s > 0))`, RecordFree, on, RecordClaim))
	rec(RecordHeadroomPods, fmt.Sprintf(`
		%s
		* on (%s) group_left
		ceil(%s)`, RecordHeadroomNodes, x.by(s, "instance_type"), RecordPodsPerNode))
	// The fix that buys the most time: smaller warm pools when they let the subnet take a
	// quarter more nodes than now, else more address space.
	rec(RecordFix, fmt.Sprintf(`
		label_replace(
		  %[1]s
		  > %[2]s * %[3]s,
		  "fix", %[4]q, "", "") * 0 + 1
		or %[5]s
		label_replace(%[6]s * 0 + 1, "fix", %[7]q, "", "")`,
		x.agg("sum", s, RecordHeadroomNodes+`{scenario="docs_advice"}`), warmFixHeadroomMul,
		x.agg("sum", s, RecordHeadroomNodes+`{scenario="current"}`), diagnosis.CauseWarmPoolHoarding,
		on, x.agg("max", s, RecordFree), diagnosis.CauseSubnetExhausted))
	return out
}

// forecastAlert fires when a subnet runs out within RunsOutWithin at the window's rate and
// within ConfirmWithin at the long window's, on a subnet seen for the whole window. Its value
// is the time to exhaustion. The description names the fix that buys the most time from the
// recorded fix series, not from a label: a label that changes with the pods per node would
// restart the alert's `for`.
func (x builder) forecastAlert() Alert {
	s := perSubnet
	on := "on (" + x.by(s) + ")"
	w := x.t("forecastWindow")
	hoarding := string(diagnosis.CauseWarmPoolHoarding)
	fix := fmt.Sprintf(`{{ with %s }}{{ $fix := . | first | label "fix" }}{{ $fix }} in the runbook ({{ if eq $fix %q }}hold smaller warm pools{{ else }}give pods more address space{{ end }}){{ else }}%s in the runbook (give pods more address space){{ end }}`,
		x.query(s, x.sq(s, RecordFix)), hoarding, diagnosis.CauseSubnetExhausted)
	return Alert{
		Name: AlertExhaustionForecast, Group: GroupSubnet, Scope: s, Severity: diagnosis.SeverityWarning, For: "15m",
		Expr: fmt.Sprintf(`
			%[1]s < %[2]s
			and %[3]s
			%[4]s / %[3]s group_left () (%[5]s > 0) < %[6]s
			and %[3]s
			%[7]s offset %[8]s`,
			RecordExhaustion, x.seconds("runsOutWithin"), on, RecordFree, RecordConsumptionLong, x.seconds("confirmWithin"),
			RecordHeld, w),
		Summary: "A subnet runs out of addresses within hours at the current rate.",
		Description: fmt.Sprintf("Subnet {{ $labels.subnet_id }} runs out in {{ $value | humanizeDuration }} at the current rate (free count basis: {{ $labels.basis }}): it uses %s more addresses per hour (slope over %s); nodes holding addresses there: %s more than %s ago; warm pools keep %s of it idle. The fix that buys the most time here is %s.",
			x.count(s, x.sq(s, RecordConsumption)+" * 3600", "unknown"), w,
			x.count(s, x.sq(s, RecordNodesDelta), "unknown"), w,
			x.pct(s, x.sq(s, RecordIdleShare), "unknown"), fix),
		Meaning: "At the subnet's consumption rate (least-squares slope over the forecast window, confirmed over the long window) its free addresses run out within runsOutWithin. Exact counts from ipamwatch subnets where it runs, else the CIDR less what nodes hold (an optimistic bound); the label basis says which.",
	}
}
