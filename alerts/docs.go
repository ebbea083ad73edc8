package alerts

import (
	"bytes"
	"fmt"
	"strings"
)

// scopeText says in words what one alert instance stands for.
func scopeText(sc scope) string {
	switch sc.name {
	case perSubnet.name:
		return "one alert per subnet (`subnet_id`)"
	case perCluster.name:
		return "one alert per cluster"
	}
	return "one alert per node (`node`)"
}

// RunbookMarkdown renders docs/runbooks/<a.Name>.md.
func RunbookMarkdown(a Alert, p Params) ([]byte, error) {
	body, err := p.body(a)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!-- %s -->\n", generatedNote)
	fmt.Fprintf(&b, "# %s\n\n", a.Name)
	fmt.Fprintf(&b, "Severity **%s**, fires after **%s**, %s, group `%s`", a.Severity, a.For, scopeText(a.Scope), a.Group)
	if a.Cause != "" {
		fmt.Fprintf(&b, ", finding cause `%s` (its advice: `diagnosis/advice/%s.md`)", a.Cause, a.Cause)
	}
	fmt.Fprintf(&b, ".\n\n%s\n\n", a.Meaning)
	section := func(title, text string) {
		if text != "" {
			fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, strings.TrimSpace(text))
		}
	}
	section("Symptom", body.Symptom)
	section("Explanation", body.Explanation)
	confirm := body.Confirm
	if strings.Contains(confirm+body.Fix, "$"+promVar) {
		confirm = "The scripts find the node (and subnet) of the firing alert through Prometheus' HTTP API at `$" + promVar +
			"`; set `NODE` yourself to look at another node. With several clusters in one Prometheus, set `NODE` (the queries do not tell clusters apart).\n\n" + confirm
	}
	section("Confirm", confirm)
	section("Fix", body.Fix)
	section("Verify", body.Verify)
	section("Upstream", body.Upstream)
	fmt.Fprintf(&b, "## Rule\n\n~~~promql\n%s\n~~~\n", a.Expr)
	return b.Bytes(), nil
}

// AlertsMarkdown renders docs/alerts.md: the alerts, their tuning, the job label, several
// clusters, routing, and the recording rules.
func AlertsMarkdown(c Catalog, p Params) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("<!-- %s -->\n", generatedNote)
	w(`# Alerts

ipamwatch ships Prometheus alerting and recording rules generated from one Go source
(`+"`alerts/`"+`, runbook prose in `+"`alerts/runbooks/*.md`"+`): a plain rules file,
`+"`alerts/ipamwatch.rules.yaml`"+`, a prometheus-operator PrometheusRule,
`+"`manifests/components/prometheusrule/prometheusrule.yaml`"+`, and the Helm chart's PrometheusRule,
rendered from the chart's values (`+"`charts/ipamwatch/templates/_rules.tpl`"+`). Every alert has a
`+"`severity`"+`, a `+"`for`"+`, a static summary, a description that quotes the numbers, and a runbook
(symptom, how to confirm with commands that run as pasted, fix, how to verify).

Alerts that key on a finding of the agent's diagnosis (`+"`ipamwatch_finding{cause=...} == 1`"+`) take
their summary, severity, explanation, confirm, fix and verify from the diagnosis' advice table
(`+"`diagnosis/advice/<cause>.md`"+`), the same text `+"`/diagnosis`"+` and `+"`ipamwatch diagnose`"+` print.

## One page per incident

An alert stands for what one fix repairs:

- **per subnet** (`+"`subnet_id`"+`): causes every node allocating from the subnet shares (subnet
  exhausted, /28 fragmentation), counted per the `+"`subnet_id`"+` of `+"`ipamwatch_node_info`"+` (the
  node's primary subnet; under custom networking the nodes of one ENIConfig subnet may span a few
  node subnets). A node without `+"`ipamwatch_node_info`"+` (instance metadata never read) is not counted.
- **per cluster**: the symptom (pods cannot get an IP) and causes whose reach is the account
  and region (ENI quota, EC2 throttling, IAM) or the cluster (the aws-node ClusterRole, the aws-node
  DaemonSet's warm-pool settings).
- **per node**: everything that belongs to one node (its instance type, ENIs, kubelet, instance
  metadata, its ipamd, its agent).

The value of a subnet or cluster alert is the number of nodes; its description lists them
(the first %d by name). An exhausted subnet under 40 nodes, or an IAM regression, fires one cause
alert and one symptom alert, not 80 (`+"`alerts/tests/incident.yaml`"+` proves it with promtool).

| alert | severity | for | one alert per | what it means | runbook |
|---|---|---|---|---|---|
`, maxListed)
	for _, a := range c.Alerts {
		w("| `%s` | %s | %s | %s | %s | [runbook](runbooks/%s.md) |\n", a.Name, a.Severity, a.For, a.Scope.name, strings.ReplaceAll(a.Meaning, "|", `\|`), a.Name)
	}
	w("%s", `
## Tuning

Thresholds, `+"`for`"+`, disabled alerts, extra rule labels, the runbook URL, the agent's job and the
cluster label are parameters: `+"`alerts.Params`"+` for the generator (the shipped files use
`+"`alerts.DefaultParams()`"+`), and the values under `+"`prometheusRule`"+` in the Helm chart, whose
defaults are the same (a test renders the chart and compares):

| chart value (`+"`prometheusRule.`"+`) | default | meaning |
|---|---|---|
`)
	w("| `job` | computed | regular expression of the agent's scrape job; empty: the job the chart's monitor gives (below) |\n")
	w("| `clusterLabel` | `%s` | label that tells clusters apart (below) |\n", orNone(p.ClusterLabel))
	w("| `runbookUrl` | `%s` | base of the `runbook_url` annotations |\n", p.RunbookBaseURL)
	w("| `additionalRuleLabels` | `{}` | labels added to every alert |\n")
	w("| `disabled` | `{}` | alert name: true, to leave it out |\n")
	w("| `for` | `{}` | alert name: duration, to override its `for` |\n")
	for _, t := range tunables {
		w("| `thresholds.%s` | `%s` | %s |\n", t.key, t.get(p.Thresholds), t.doc)
	}
	w(`
The %[1]s group reads the cluster-level subnet series of `+"`ipamwatch subnets`"+` (`+"`%[2]s`"+`,
`+"`%[3]s`"+`, `+"`%[4]s`"+`, `+"`%[5]s`"+`).

## The agent's job

`+"`IpamwatchAgentAbsent`"+` and `+"`IpamwatchAgentDown`"+` can only look at `+"`up`"+`, so they select the
agent's scrape job (`+"`job=~\"%[6]s\"`"+` by default). prometheus-operator names the job of a target
(prometheus-operator v0.85.0, `+"`pkg/apis/monitoring/v1/servicemonitor_types.go`"+` and
`+"`podmonitor_types.go`"+`, field `+"`jobLabel`"+`; the relabelings in `+"`pkg/prometheus/promcfg.go`"+`):

- **ServiceMonitor**: the value of the Service's label named by `+"`spec.jobLabel`"+`; without
  `+"`jobLabel`"+`, or when the Service lacks that label, the Service's name
  (`+"`monitoring-ipamwatch`"+` for a release `+"`monitoring`"+`).
- **PodMonitor**: the value of the pod's label named by `+"`spec.jobLabel`"+`; without it,
  `+"`<namespace>/<PodMonitor name>`"+`.
- An endpoint relabeling that writes `+"`job`"+` runs after these.

The chart sets `+"`jobLabel: app.kubernetes.io/name`"+` on both monitors and fills the rules' job from
the monitor it renders, so the rules select the job the operator gives under any release name and
namespace. A scrape configuration of your own must set `+"`job`"+` to match (`+"`prometheusRule.job`"+`,
or `+"`Params.Job`"+`).

## Several clusters

A Prometheus, Thanos, Mimir or Amazon Managed Prometheus that holds several clusters needs a label
that tells them apart on every series (an external label or a relabeling). Set `+"`clusterLabel`"+`
(for example `+"`cluster`"+`): every recording rule keeps it in its `+"`by`"+`, every alert aggregates per
cluster (and per node or subnet within it), and every annotation query matches the alert's cluster.
Both dashboards have a `+"`cluster`"+` variable, hidden when the label does not exist.

## Routing and inhibition

Group by `+"`alertname`"+`, the cluster label, `+"`subnet_id`"+` and `+"`node`"+`, so that one incident arrives
as one notification, and let the cause silence what it explains (checked with `+"`amtool check-config`"+`
and exercised by the end-to-end test):

`+"```yaml\n%[7]s```"+`

## Recording rules

Group `+"`%[8]s`"+` precomputes cluster and subnet rollups so dashboards stay cheap at thousands of nodes:

| series | expression |
|---|---|
`, GroupSubnets, p.SubnetMetrics.Size, p.SubnetMetrics.FreeAddresses, p.SubnetMetrics.FreePrefixBlocks, p.SubnetMetrics.FragmentationRatio,
		p.Job, AlertmanagerExample(), GroupRecording)
	for _, r := range c.Recordings {
		w("| `%s` | `%s` |\n", r.Record, strings.ReplaceAll(strings.Join(strings.Fields(r.Expr), " "), "|", `\|`))
	}
	b.WriteString(`
## Tests

` + "`go test ./alerts/...`" + ` checks that the committed files equal the generator's output, that every
alert has its labels, annotations and runbook, that every runbook's shell block parses with a real
bash parser and holds no placeholder, that runbooks agree with the advice table, that every metric
a rule names is documented in ` + "`docs/metrics.md`" + ` (or ` + "`docs/subnets.md`" + `), that the chart renders
the same rules, and runs ` + "`promtool check rules`" + ` and ` + "`promtool test rules alerts/tests/*.yaml`" + `
(cases that fire and that stay silent for every alert, two clusters mixed, one incident on 40 nodes).
`)
	return b.Bytes()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
