package manifests_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// The agent-health alerts of the PrometheusRule each deployment renders see the agents under the
// job Prometheus Operator gives them: a failing scrape fires IpamwatchAgentDown for its node and
// nothing else, healthy agents fire no agent alert. promtool evaluates the rendered rules over
// `up` series labelled as the operator would label them (operatorJob). The last case is the
// chart before jobLabel: a job named after the Service, which the rules never matched.
func TestRenderedRulesSeeTheAgentsUnderTheOperatorsJob(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	cases := []struct {
		set int // index in renderCases
		// job overrides the operator's job (the regression case); "" = operatorJob.
		job string
	}{
		{set: 1},  // kustomize servicemonitor
		{set: 2},  // kustomize podmonitor
		{set: 9},  // helm ServiceMonitor, release monitoring in observability
		{set: 10}, // helm PodMonitor in monitoring, release prod, namespaceOverride
		{set: 9, job: "monitoring-ipamwatch"},
	}
	for _, c := range cases {
		name := renderCases[c.set].name
		if c.job != "" {
			name += ", job " + c.job
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, renderCases[c.set])
			var rules []byte
			job := c.job
			for _, o := range objs {
				switch o.Kind {
				case "PrometheusRule":
					rules = ruleFile(t, o)
				case "ServiceMonitor", "PodMonitor":
					if job != "" {
						continue
					}
					d, eps, err := agentDiscovery(objs, o)
					if err != nil {
						t.Fatal(err)
					}
					if job, err = operatorJob(d, eps[0].Relabelings); err != nil {
						t.Fatal(err)
					}
				}
			}
			if rules == nil || job == "" {
				t.Fatalf("no PrometheusRule (%v) or no agent monitor (job %q)", rules != nil, job)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
				t.Fatal(err)
			}
			want := agentAlertsTest(job, c.job == "")
			if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(promtool, "test", "rules", "test.yaml")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool test rules with job=%q: %v\n%s", job, err, out)
			}
		})
	}
}

// ruleFile turns a rendered PrometheusRule into a Prometheus rule file.
func ruleFile(t *testing.T, o object) []byte {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups json.RawMessage `json:"groups"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(o.JSON, &pr); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.JSONToYAML([]byte(`{"groups":` + string(pr.Spec.Groups) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// agentAlertsTest is a promtool test over two agents' `up` series under job. seen: the rules
// select that job, so a down agent fires IpamwatchAgentDown and two healthy agents fire
// nothing; otherwise the agents are invisible to the rules and IpamwatchAgentAbsent fires.
func agentAlertsTest(job string, seen bool) string {
	up := func(node string, values string) string {
		return fmt.Sprintf("      - series: 'up{job=%q, node=%q, instance=\"%s:9713\"}'\n        values: '%s'\n", job, node, strings.TrimPrefix(node, "ip-"), values)
	}
	const alerts = `count by (alertname, node) (ALERTS{alertname=~"IpamwatchAgent(Absent|Down)", alertstate="firing"})`
	var b strings.Builder
	b.WriteString("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n")
	// One agent down for an hour.
	b.WriteString("  - interval: 1m\n    input_series:\n")
	b.WriteString(up("ip-10-0-0-1", "1x60"))
	b.WriteString(up("ip-10-0-0-2", "0x60"))
	fmt.Fprintf(&b, "    promql_expr_test:\n      - expr: '%s'\n        eval_time: 45m\n        exp_samples:\n", alerts)
	if seen {
		b.WriteString("          - labels: '{alertname=\"IpamwatchAgentDown\", node=\"ip-10-0-0-2\"}'\n            value: 1\n")
	} else {
		b.WriteString("          - labels: '{alertname=\"IpamwatchAgentAbsent\"}'\n            value: 1\n")
	}
	// Both agents healthy.
	b.WriteString("  - interval: 1m\n    input_series:\n")
	b.WriteString(up("ip-10-0-0-1", "1x60"))
	b.WriteString(up("ip-10-0-0-2", "1x60"))
	fmt.Fprintf(&b, "    promql_expr_test:\n      - expr: '%s'\n        eval_time: 45m\n", alerts)
	if seen {
		b.WriteString("        exp_samples: []\n")
	} else {
		b.WriteString("        exp_samples:\n          - labels: '{alertname=\"IpamwatchAgentAbsent\"}'\n            value: 1\n")
	}
	return b.String()
}
