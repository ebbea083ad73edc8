package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// renderChartRules renders the chart's PrometheusRule with helm and returns its groups.
func renderChartRules(t *testing.T, release string, args ...string) []Group {
	t.Helper()
	helm := testtools.Lookup(t, "helm")
	cmd := exec.Command(helm, append([]string{"template", release, filepath.Join(repoRoot, "charts", "ipamwatch"), "--kube-version", testKubeVersion,
		"--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	var obj struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Groups []Group `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(out, &obj); err != nil {
		t.Fatalf("the chart's PrometheusRule does not parse: %v\n%s", err, out)
	}
	if obj.Kind != "PrometheusRule" || len(obj.Spec.Groups) == 0 {
		t.Fatalf("the chart rendered no PrometheusRule groups:\n%s", out)
	}
	return obj.Spec.Groups
}

// The chart renders its PrometheusRule from its values, through templates/_rules.tpl: with the
// defaults it is exactly the plain rules file of DefaultParams, so there is one source.
func TestChartRendersDefaultRules(t *testing.T) {
	t.Parallel()
	want, err := Groups(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	// Release "ipamwatch": the Service, and so the default job, is "ipamwatch".
	got := renderChartRules(t, "ipamwatch")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's default rules differ from alerts.Groups(DefaultParams()) (-generator +chart):\n%s", diff)
	}
}

// Every value reaches the rules the way the generator's Params do.
func TestChartRulesFromValues(t *testing.T) {
	t.Parallel()
	p := MultiClusterParams()
	p.Job = "my-agents"
	p.RunbookBaseURL = "https://wiki.example.com/ipamwatch/"
	p.RuleLabels = map[string]string{"team": "network", "page": "true"}
	p.Disabled = []string{"IpamwatchLogTailStalled", "IpamwatchSubnetFreeAddressesLow", "IpamwatchSubnetFreePrefixBlocksLow", "IpamwatchSubnetAnalysisStale"}
	p.For = map[string]string{"IpamwatchSubnetExhausted": "7m", "IpamwatchAgentDown": "1h"}
	p.FailureWindow = "15m"
	p.PoolCeilingRatio = 0.85
	p.HoardingMinIdle = 128
	p.LogStall = "1h"
	p.SubnetFreePrefixBlocksMin = 6
	p.SubnetStale = "2h"
	want, err := Groups(p)
	if err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`prometheusRule:
  job: my-agents
  clusterLabel: cluster
  runbookUrl: https://wiki.example.com/ipamwatch/
  additionalRuleLabels: {team: network, page: "true"}
  disabled: {IpamwatchLogTailStalled: true, IpamwatchSubnetFreeAddressesLow: true, IpamwatchSubnetFreePrefixBlocksLow: true, IpamwatchSubnetAnalysisStale: true, IpamwatchAgentAbsent: false}
  for: {IpamwatchSubnetExhausted: 7m, IpamwatchAgentDown: 1h}
  thresholds:
    failureWindow: 15m
    poolCeilingRatio: 0.85
    hoardingMinIdle: 128
    logStall: 1h
    subnetFreePrefixBlocksMin: 6
    subnetStale: 2h
`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := renderChartRules(t, "monitoring", "-f", values)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chart with values differs from the generator with the same parameters (-generator +chart):\n%s", diff)
	}
	// And promtool accepts what the chart renders.
	promtool := testtools.Lookup(t, "promtool")
	b, err := yaml.Marshal(map[string]any{"groups": got})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the chart's rules: %v\n%s", err, out)
	}
}

// Without prometheusRule.job the rules select the job prometheus-operator gives the chart's
// monitor, whatever the release name and namespace. The job is computed here from the rendered
// objects by the operator's documented rules (prometheus-operator v0.85.0,
// ServiceMonitorSpec.JobLabel: the value of the Service's label named by jobLabel, else "the
// name of the associated Kubernetes Service"; PodMonitorSpec.JobLabel: the value of the pod's
// label, else "the namespace and name of the PodMonitor object (e.g. <namespace>/<name>)").
// e2e/TestOperatorView checks the same against the real operator.
func TestChartRulesSelectTheOperatorsJob(t *testing.T) {
	t.Parallel()
	helm := testtools.Lookup(t, "helm")
	for _, tc := range []struct {
		name    string
		monitor string
		args    []string
	}{
		{"service monitor", "ServiceMonitor", []string{"--set", "serviceMonitor.enabled=true"}},
		{"pod monitor", "PodMonitor", []string{"--set", "podMonitor.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"template", "monitoring", filepath.Join(repoRoot, "charts", "ipamwatch"), "--kube-version", testKubeVersion, "--namespace", "observability",
				"--set", "prometheusRule.enabled=true"}, tc.args...)
			out, err := exec.Command(helm, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			objs := map[string]map[string]any{}
			for _, doc := range strings.Split(string(out), "\n---") {
				var o map[string]any
				if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
					t.Fatal(err)
				}
				if k, _ := o["kind"].(string); k != "" && objs[k] == nil {
					objs[k] = o
				}
			}
			want := operatorJob(t, tc.monitor, objs)
			var got string
			groups, _ := dig(t, objs["PrometheusRule"], "spec")["groups"].([]any)
			if len(groups) == 0 {
				t.Fatal("the PrometheusRule has no groups")
			}
			for _, g := range groups {
				for _, r := range g.(map[string]any)["rules"].([]any) {
					if rule := r.(map[string]any); rule["alert"] == "IpamwatchAgentDown" {
						got, _ = rule["expr"].(string)
					}
				}
			}
			m := regexp.MustCompile(`up\{job=~"([^"]+)"\}`).FindStringSubmatch(got)
			if len(m) < 2 || !regexp.MustCompile("^(?:"+m[1]+")$").MatchString(want) {
				t.Errorf("IpamwatchAgentDown is %q; the operator gives the agents job %q", got, want)
			}
		})
	}
}

// operatorJob is the job prometheus-operator gives the targets of the rendered monitor.
func operatorJob(t *testing.T, kind string, objs map[string]map[string]any) string {
	t.Helper()
	mon := objs[kind]
	if mon == nil {
		t.Fatalf("the chart rendered no %s", kind)
	}
	jobLabel, _ := dig(t, mon, "spec")["jobLabel"].(string)
	var labels map[string]any
	var job string
	if kind == "ServiceMonitor" {
		svc := objs["Service"]
		labels = dig(t, svc, "metadata")["labels"].(map[string]any)
		job = dig(t, svc, "metadata")["name"].(string)
	} else {
		labels = dig(t, objs["DaemonSet"], "spec", "template", "metadata")["labels"].(map[string]any)
		job = dig(t, mon, "metadata")["namespace"].(string) + "/" + dig(t, mon, "metadata")["name"].(string)
	}
	if v, ok := labels[jobLabel].(string); jobLabel != "" && ok && v != "" {
		job = v
	}
	// An endpoint relabeling that writes job runs after these.
	eps, _ := dig(t, mon, "spec")["endpoints"].([]any)
	if kind == "PodMonitor" {
		eps, _ = dig(t, mon, "spec")["podMetricsEndpoints"].([]any)
	}
	for _, ep := range eps {
		rels, _ := ep.(map[string]any)["relabelings"].([]any)
		for _, r := range rels {
			if rel := r.(map[string]any); rel["targetLabel"] == "job" {
				job, _ = rel["replacement"].(string)
			}
		}
	}
	return job
}

// dig walks a decoded object to a map.
func dig(t *testing.T, obj map[string]any, path ...string) map[string]any {
	t.Helper()
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			t.Fatalf("no %s in a rendered %v", strings.Join(path, "."), obj["kind"])
		}
		cur = next
	}
	return cur
}

// Values the rules cannot use fail at render time with what is wrong.
func TestChartRulesRejectBadValues(t *testing.T) {
	t.Parallel()
	helm := testtools.Lookup(t, "helm")
	for name, args := range map[string][]string{
		"unknown alert disabled":   {"--set", "prometheusRule.disabled.IpamwatchNope=true"},
		"log stall with two units": {"--set", "prometheusRule.thresholds.logStall=1h30m"},
		"ratio above one":          {"--set", "prometheusRule.thresholds.poolCeilingRatio=2"},
		"unknown threshold":        {"--set", "prometheusRule.thresholds.nope=1"},
		"cluster label node":       {"--set", "prometheusRule.clusterLabel=node"},
		"url without slash":        {"--set", "prometheusRule.runbookUrl=https://example.com/x"},
	} {
		out, err := exec.Command(helm, append([]string{"template", "x", filepath.Join(repoRoot, "charts", "ipamwatch"), "--kube-version", testKubeVersion, "--set", "prometheusRule.enabled=true"}, args...)...).CombinedOutput()
		if err == nil {
			t.Errorf("%s: helm template accepted %v", name, args)
		} else if len(out) == 0 {
			t.Errorf("%s: failed without a message", name)
		}
	}
}

// testKubeVersion is the Kubernetes version charts are rendered for (within the chart's
// kubeVersion).
const testKubeVersion = "v1.33.0"
