package alerts

import (
	"fmt"
	"sort"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// Alert is one alert of the catalog with everything the docs say about it. Its runbook is
// runbooks/<Name>.md; for an alert with a Cause, the runbook's explanation, confirm, fix and
// verify come from the diagnosis' advice table and the source file adds only the symptom.
type Alert struct {
	Name  string
	Group string
	// Scope is what one alert instance stands for: a node, a subnet or the cluster.
	Scope    scope
	Severity diagnosis.Severity
	// SeverityWhy says why an alert with a Cause has another severity than the advice table
	// gives the cause (empty when they agree).
	SeverityWhy string
	For         string
	Expr        string
	// Summary is static text; Description is a template that quotes the numbers.
	Summary     string
	Description string
	// Meaning is the one-line explanation of docs/alerts.md.
	Meaning string
	// Cause is the diagnosis finding cause the alert keys on, if any.
	Cause diagnosis.Cause
}

// Recording is one recording rule with its group.
type Recording struct {
	Group  string
	Record string
	Expr   string
}

// Group names, in the order of the rules file. Alerts are grouped by what one instance
// stands for; the cluster-level subnet group is separate because its series come from the
// `ipamwatch subnets` view (Params.SubnetMetrics).
const (
	GroupRecording = "ipamwatch.rules"
	GroupCluster   = "ipamwatch.cluster.alerts"
	GroupSubnet    = "ipamwatch.subnet.alerts"
	GroupNode      = "ipamwatch.node.alerts"
	GroupAgent     = "ipamwatch.agent.alerts"
	GroupSubnets   = "ipamwatch.subnets"
)

var groupOrder = []string{GroupRecording, GroupCluster, GroupSubnet, GroupNode, GroupAgent, GroupSubnets}

// Catalog is every rule the generator knows, with its documentation.
type Catalog struct {
	Recordings []Recording
	Alerts     []Alert
}

// Build returns the catalog for p: one function per rule group. p must be valid (Groups
// validates; tests call Build directly with DefaultParams). Disabled alerts are included;
// Groups leaves them out.
func Build(p Params) Catalog {
	return builder{p: p}.catalog()
}

func (x builder) catalog() Catalog {
	var c Catalog
	c.Recordings = x.recordingRules()
	for _, g := range [][]Alert{x.clusterAlerts(), x.subnetAlerts(), x.nodeAlerts(), x.agentAlerts(), x.subnetViewAlerts()} {
		c.Alerts = append(c.Alerts, g...)
	}
	for i := range c.Alerts {
		c.Alerts[i].Expr = trim(c.Alerts[i].Expr)
	}
	for i := range c.Recordings {
		c.Recordings[i].Expr = trim(c.Recordings[i].Expr)
	}
	return c
}

// catalogAlerts lists the alerts (names do not depend on p; used to validate p's overrides).
func catalogAlerts(Params) []Alert { return Build(DefaultParams()).Alerts }

// RecordingNames lists the names of the recording rules, sorted.
func (c Catalog) RecordingNames() []string {
	var n []string
	for _, r := range c.Recordings {
		n = append(n, r.Record)
	}
	sort.Strings(n)
	return n
}

// finding is the expression of an alert that keys on a finding cause, aggregated to sc:
// per node the finding itself; per subnet the number of nodes with the finding among those
// whose ipamwatch_node_info names the subnet; per cluster the number of nodes with it.
func (x builder) finding(c diagnosis.Cause, sc scope) string {
	f := fmt.Sprintf("max by (%s) (%s) == 1", x.by(perNode), x.s("ipamwatch_finding", fmt.Sprintf("cause=%q", c)))
	switch sc.name {
	case perNode.name:
		return f
	case perSubnet.name:
		return x.agg("count", perSubnet, fmt.Sprintf("\n  max by (%s) (%s)\n  and on (%s)\n  %s\n", x.by(perNode, "subnet_id"), x.s("ipamwatch_node_info"), x.by(perNode), f))
	default:
		return x.agg("count", perCluster, f)
	}
}

// findingNodes prints, in an annotation, the nodes that report the cause within the alert's
// subnet or cluster.
func (x builder) findingNodes(c diagnosis.Cause, sc scope) string {
	cause := fmt.Sprintf("cause=%q", c)
	if sc.name == perSubnet.name {
		// Only the first selector is keyed: printf fills the %q in order.
		return x.nodes(sc, fmt.Sprintf("max by (%[1]s) (%[2]s) and on (%[1]s) max by (%[1]s) (%[3]s) == 1",
			x.by(perNode), x.sq(sc, "ipamwatch_node_info"), x.s("ipamwatch_finding", cause)))
	}
	return x.nodes(sc, fmt.Sprintf("max by (node) (%s) == 1", x.sq(sc, "ipamwatch_finding", cause)))
}

// findingAlert is an alert that fires while nodes report the cause; its summary and severity
// come from the advice table.
func (x builder) findingAlert(group, name string, c diagnosis.Cause, sc scope, forDur, meaning, description string) Alert {
	a := diagnosis.AdviceFor(c)
	return Alert{
		Name: name, Group: group, Scope: sc, Severity: a.Severity, For: forDur,
		Expr: x.finding(c, sc), Summary: a.Title, Description: description, Meaning: meaning, Cause: c,
	}
}

// Per says what one instance of the alert stands for: "node", "subnet" or "cluster".
func (a Alert) Per() string { return a.Scope.name }
