package alerts

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

var update = flag.Bool("update", false, "rewrite the generated files instead of comparing them")

const repoRoot = ".."

func TestGeneratedFilesAreCommitted(t *testing.T) {
	if *update {
		if err := Write(repoRoot, DefaultParams()); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Files(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./alerts/...)", path, err)
			continue
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s differs from the generator's output (run go generate ./alerts/...) (-want +got):\n%s", path, diff)
		}
	}
	// No runbook without an alert.
	existing, err := filepath.Glob(filepath.Join(repoRoot, RunbookDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range existing {
		rel := filepath.ToSlash(strings.TrimPrefix(f, repoRoot+string(filepath.Separator)))
		if _, ok := files[rel]; !ok {
			t.Errorf("%s has no alert in the catalog", rel)
		}
	}
}

// The hand-written YAML emitter must produce exactly the structure Groups returns.
func TestRenderedYAMLRoundTrips(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	want, err := Groups(p)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := RulesFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []Group `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(rules, &file); err != nil {
		t.Fatalf("rules file does not parse: %v", err)
	}
	if diff := cmp.Diff(want, file.Groups); diff != "" {
		t.Errorf("rules file round trip (-want +got):\n%s", diff)
	}

	pr, err := PrometheusRule(p)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Groups []Group `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(pr, &obj); err != nil {
		t.Fatalf("PrometheusRule does not parse: %v", err)
	}
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" || obj.Metadata.Name == "" {
		t.Errorf("PrometheusRule header: %+v", obj)
	}
	if diff := cmp.Diff(want, obj.Spec.Groups); diff != "" {
		t.Errorf("PrometheusRule round trip (-want +got):\n%s", diff)
	}
}

func TestScalarQuoting(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"plain", "5m", "10", "true", "no", "a: b", "it's", `say "hi"`, "#comment", "- dash", "{{ $value }}",
		"line\nbreak", "tab\there", " lead", "trail ", "", "ünïcode", "`back`", "50%", "*star", "&anchor", "!tag", "@at", "a #b",
	} {
		doc := "k: " + scalar(v) + "\n"
		var got map[string]string
		if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
			t.Errorf("scalar(%q) = %q does not parse: %v", v, scalar(v), err)
			continue
		}
		if got["k"] != v {
			t.Errorf("scalar(%q) = %q parses back as %q", v, scalar(v), got["k"])
		}
	}
}

var (
	alertNameRE = regexp.MustCompile(`^Ipamwatch[A-Z][A-Za-z0-9]+$`)
	sectionRE   = regexp.MustCompile(`(?m)^## (Symptom|Confirm|Fix|Verify)$`)
	// A Prometheus template action, which a summary must not have.
)

// Every alert carries what an on-call engineer needs, and its runbook exists.
func TestAlertContract(t *testing.T) {
	t.Parallel()
	groups, err := Groups(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			name := r.Alert
			if seen[name] {
				t.Errorf("%s: defined twice", name)
			}
			seen[name] = true
			if !alertNameRE.MatchString(name) {
				t.Errorf("%s: name is not CamelCase with the Ipamwatch prefix", name)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q", name, r.Labels["severity"])
			}
			if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
				t.Errorf("%s: for %q is not a positive duration", name, r.For)
			}
			sum := r.Annotations["summary"]
			if sum == "" || strings.Contains(sum, "{{") {
				t.Errorf("%s: summary must be static and non-empty: %q", name, sum)
			}
			desc := r.Annotations["description"]
			if !strings.Contains(desc, "{{") {
				t.Errorf("%s: description must be a template quoting the numbers: %q", name, desc)
			}
			if _, err := template.New(name).Funcs(promTemplateFuncs()).Parse(promPreamble + desc); err != nil {
				t.Errorf("%s: description does not parse as a template: %v", name, err)
			}
			wantURL := "https://github.com/ipamwatch/ipamwatch/blob/main/docs/runbooks/" + name + ".md"
			if r.Annotations["runbook_url"] != wantURL {
				t.Errorf("%s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], wantURL)
			}
			body, err := os.ReadFile(filepath.Join(repoRoot, "docs", "runbooks", name+".md"))
			if err != nil {
				t.Errorf("%s: runbook: %v", name, err)
				continue
			}
			var sections []string
			for _, m := range sectionRE.FindAllStringSubmatch(string(body), -1) {
				sections = append(sections, m[1])
			}
			if diff := cmp.Diff([]string{"Symptom", "Confirm", "Fix", "Verify"}, sections); diff != "" {
				t.Errorf("%s: runbook sections (-want +got):\n%s", name, diff)
			}
			confirm := between(string(body), "## Confirm", "## Fix")
			if len(diagnosis.ShellBlocks(confirm)) == 0 {
				t.Errorf("%s: the Confirm section has no command", name)
			}
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d alerts", len(seen))
	}
}

// promTemplateFuncs stubs the functions Prometheus 2.42 offers in alert templates, so that
// the templates can be parsed here (promtool's tests execute them for real).
func promTemplateFuncs() template.FuncMap {
	m := template.FuncMap{}
	for _, n := range []string{
		"query", "first", "label", "value", "strvalue", "sortByLabel", "humanize", "humanize1024",
		"humanizeDuration", "humanizePercentage", "humanizeTimestamp", "title", "toUpper", "toLower",
		"match", "reReplaceAll", "args", "safeHtml", "stripPort", "externalURL", "pathPrefix",
		"graphLink", "tableLink", "tmpl", "parseDuration",
	} {
		m[n] = func(...any) any { return nil }
	}
	return m
}

// promPreamble is what Prometheus puts in front of every alert template.
const promPreamble = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

// Every finding cause of the diagnosis has an alert (ipv6_mode is information: it says which
// ceilings do not apply, nothing to act on), and an alert with a cause has the cause's severity
// and summary from the advice table, or says why not.
func TestEveryCauseIsAlerted(t *testing.T) {
	t.Parallel()
	c := Build(DefaultParams())
	byCause := map[diagnosis.Cause][]Alert{}
	for _, a := range c.Alerts {
		if a.Cause == "" {
			if a.SeverityWhy != "" {
				t.Errorf("%s: SeverityWhy without a cause", a.Name)
			}
			continue
		}
		adv := diagnosis.AdviceFor(a.Cause)
		if adv.Severity == "" {
			t.Errorf("%s: cause %q is not a diagnosis cause", a.Name, a.Cause)
		}
		byCause[a.Cause] = append(byCause[a.Cause], a)
		if a.Severity != adv.Severity && a.SeverityWhy == "" {
			t.Errorf("%s keys on %s but has severity %s; the advice table says %s (or give SeverityWhy)", a.Name, a.Cause, a.Severity, adv.Severity)
		}
		if a.Severity == adv.Severity && a.SeverityWhy != "" {
			t.Errorf("%s: SeverityWhy given but the severity agrees with the advice table", a.Name)
		}
		if strings.Contains(a.Expr, "ipamwatch_finding{cause=\""+string(a.Cause)+"\"}") && a.Summary != adv.Title {
			t.Errorf("%s: summary %q, want the advice title %q", a.Name, a.Summary, adv.Title)
		}
	}
	for _, cause := range diagnosis.Causes() {
		if cause == diagnosis.CauseIPv6Mode {
			continue
		}
		if len(byCause[cause]) == 0 {
			t.Errorf("cause %s has no alert", cause)
		}
	}
}

// Every series a rule or an annotation query names is documented (or is a recording rule).
func TestRulesReferenceOnlyKnownMetrics(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	ks, err := KnownSeries(repoRoot, p)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := Groups(p)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			id := r.Record + r.Alert
			queries := []string{r.Expr}
			for _, a := range r.Annotations {
				queries = append(queries, TemplateQueries(a)...)
			}
			for _, q := range queries {
				names := MetricNames(q)
				if len(names) == 0 && q == r.Expr {
					t.Errorf("%s: no series found in %q", id, q)
				}
				for _, n := range names {
					checked++
					switch {
					case ks.Known[n]:
					case ks.Pending[n]:
						t.Logf("%s: %s is pending docs/subnets.md", id, n)
					default:
						t.Errorf("%s: %s is not documented in docs/metrics.md or docs/subnets.md (query %q)", id, n, q)
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d references checked: the scan is broken", checked)
	}
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`sum by (node) (increase(ipamwatch_log_events_total{class=~"ipamwatch_fake|x"}[10m]))`, []string{"ipamwatch_log_events_total"}},
		{`a:ipamwatch_b:sum / on (subnet_id) subnet_id:ipamwatch_c:max > 0.9`, []string{"a:ipamwatch_b:sum", "subnet_id:ipamwatch_c:max"}},
		{`absent(up{job=~"ipamwatch"} == 1)`, []string{"up"}},
		{`count(setup{x="1"})`, []string{}},
		{`awscni_ip_max - awscni_assigned_ip_addresses`, []string{"awscni_assigned_ip_addresses", "awscni_ip_max"}},
		{`time() - max(ipamwatch_x{node=%q,label="say \"ipamwatch_y\""})`, []string{"ipamwatch_x"}},
	} {
		got := MetricNames(tc.in)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("MetricNames(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	doc := []byte("| name | type |\n|---|---|\n| `ipamwatch_a` | gauge |\n| `ipamwatch_b_total` | counter |\ntext `ipamwatch_c`\n")
	if diff := cmp.Diff([]string{"ipamwatch_a", "ipamwatch_b_total"}, DocumentedMetrics(doc)); diff != "" {
		t.Errorf("DocumentedMetrics (-want +got):\n%s", diff)
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	mod := func(f func(*Params)) Params { p := DefaultParams(); f(&p); return p }
	for _, tc := range []struct {
		name string
		p    Params
		want string // substring of the error; empty = valid
	}{
		{"default", DefaultParams(), ""},
		{"selector", mod(func(p *Params) { p.Selector = `cluster="prod"` }), ""},
		{"selector with braces", mod(func(p *Params) { p.Selector = `{cluster="prod"}` }), "selector"},
		{"selector unquoted", mod(func(p *Params) { p.Selector = `cluster=prod` }), "selector"},
		{"empty job", mod(func(p *Params) { p.Job = "" }), "job"},
		{"bad job regex", mod(func(p *Params) { p.Job = "ipam(" }), "job"},
		{"bad window", mod(func(p *Params) { p.FailureWindow = "ten minutes" }), "failure window"},
		{"zero ratio", mod(func(p *Params) { p.PoolCeilingRatio = 0 }), "pool ceiling ratio"},
		{"ratio above one", mod(func(p *Params) { p.SubnetHeldRatio = 1.5 }), "subnet held ratio"},
		{"bad metric name", mod(func(p *Params) { p.SubnetMetrics.FreeAddresses = "free addresses" }), "subnet free addresses metric"},
		{"no port", mod(func(p *Params) { p.Port = 0 }), "runbook facts"},
		{"negative idle", mod(func(p *Params) { p.HoardingMinIdle = -1 }), "hoarding"},
		{"for cap", mod(func(p *Params) { p.ForCap = "30s" }), ""},
		{"cluster label", mod(func(p *Params) { p.ClusterLabel = "k8s_cluster" }), ""},
		{"cluster label not a name", mod(func(p *Params) { p.ClusterLabel = "k8s-cluster" }), "cluster label"},
		{"cluster label node", mod(func(p *Params) { p.ClusterLabel = "node" }), "cluster label"},
		{"disabled", mod(func(p *Params) { p.Disabled = []string{"IpamwatchLogTailStalled"} }), ""},
		{"disabled unknown", mod(func(p *Params) { p.Disabled = []string{"IpamwatchNope"} }), "no such alert"},
		{"for override", mod(func(p *Params) { p.For = map[string]string{"IpamwatchSubnetExhausted": "10m"} }), ""},
		{"for override bad", mod(func(p *Params) { p.For = map[string]string{"IpamwatchSubnetExhausted": "soon"} }), "for of"},
		{"rule label", mod(func(p *Params) { p.RuleLabels = map[string]string{"team": "network"} }), ""},
		{"rule label severity", mod(func(p *Params) { p.RuleLabels = map[string]string{"severity": "page"} }), "rule label"},
		{"runbook url without slash", mod(func(p *Params) { p.RunbookBaseURL = "https://example.com/runbooks" }), "runbook base URL"},
		{"log stall two units", mod(func(p *Params) { p.LogStall = "1h30m" }), "log stall"},
		{"bad for cap", mod(func(p *Params) { p.ForCap = "soon" }), "for cap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if tc.want != "" {
				if _, err := RulesFile(tc.p); err == nil {
					t.Fatal("RulesFile accepted invalid parameters")
				}
			}
		})
	}
}

// Parameters reach the expressions: the selector lands on every ipamwatch series, the job on
// `up`, thresholds in the comparisons, the overrides on the rules.
func TestParamsShapeRules(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	p.Selector = `env="prod"`
	p.Job = "ipamwatch-agent"
	p.SubnetHeldRatio = 0.75
	p.ForCap = "1m"
	p.Disabled = []string{"IpamwatchLogTailStalled"}
	p.For = map[string]string{"IpamwatchSubnetExhausted": "30s"}
	p.RuleLabels = map[string]string{"team": "network"}
	p.RunbookBaseURL = "https://wiki.example.com/ipamwatch/"
	gs, err := Groups(p)
	if err != nil {
		t.Fatal(err)
	}
	selRE := regexp.MustCompile(`\b(ipamwatch_[a-z0-9_]+|up)(\{[^}]*\})?`)
	found := map[string]bool{}
	for _, g := range gs {
		for _, r := range g.Rules {
			for _, m := range selRE.FindAllStringSubmatch(r.Expr, -1) {
				if strings.Contains(r.Expr, ":"+m[1]+":") && m[2] == "" {
					continue // part of a recording-rule name
				}
				if !strings.Contains(m[2], `env="prod"`) {
					t.Errorf("%s%s: selector %s%s lacks the extra matcher", r.Record, r.Alert, m[1], m[2])
				}
			}
			if r.Alert == "" {
				continue
			}
			if d, err := model.ParseDuration(r.For); err != nil || time.Duration(d) > time.Minute {
				t.Errorf("%s: for %s above the 1m cap", r.Alert, r.For)
			}
			if r.Labels["team"] != "network" {
				t.Errorf("%s: labels %v lack the rule label", r.Alert, r.Labels)
			}
			if r.Annotations["runbook_url"] != "https://wiki.example.com/ipamwatch/"+r.Alert+".md" {
				t.Errorf("%s: runbook_url %s", r.Alert, r.Annotations["runbook_url"])
			}
			switch r.Alert {
			case "IpamwatchAgentAbsent", "IpamwatchAgentDown":
				found[r.Alert] = strings.Contains(r.Expr, `job=~"ipamwatch-agent"`)
			case "IpamwatchSubnetNodeHeldHigh":
				found[r.Alert] = strings.Contains(r.Expr, "> 0.75")
			case "IpamwatchSubnetExhausted":
				found[r.Alert] = r.For == "30s"
			case "IpamwatchLogTailStalled":
				t.Errorf("%s is disabled but rendered", r.Alert)
			}
		}
	}
	for _, a := range []string{"IpamwatchAgentAbsent", "IpamwatchAgentDown", "IpamwatchSubnetNodeHeldHigh", "IpamwatchSubnetExhausted"} {
		if !found[a] {
			t.Errorf("%s does not use its parameter", a)
		}
	}
}

// With a cluster label, every aggregation keeps it, every join matches on it and every
// annotation query is keyed on the alert's cluster, so that several clusters never merge.
func TestClusterLabelReachesEveryRule(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	p.ClusterLabel = "k8s_cluster"
	gs, err := Groups(p)
	if err != nil {
		t.Fatal(err)
	}
	aggRE := regexp.MustCompile(`\b(sum|max|min|count|topk)\s*(by\s*\(([^)]*)\))?\s*\(`)
	onRE := regexp.MustCompile(`\bon\s*\(([^)]*)\)`)
	tmplQueryRE := regexp.MustCompile("printf `([^`]*)`([^|]*)\\|")
	for _, g := range gs {
		for _, r := range g.Rules {
			id := r.Record + r.Alert
			if r.Alert == "IpamwatchAgentAbsent" {
				if !strings.Contains(r.Expr, "count by (k8s_cluster) (up)") {
					t.Errorf("%s: not per cluster: %s", id, r.Expr)
				}
			}
			for _, m := range aggRE.FindAllStringSubmatch(r.Expr, -1) {
				if !strings.Contains(m[3], "k8s_cluster") {
					t.Errorf("%s: %q drops the cluster label in %s", id, m[0], r.Expr)
				}
			}
			for _, m := range onRE.FindAllStringSubmatch(r.Expr, -1) {
				if !strings.Contains(m[1], "k8s_cluster") {
					t.Errorf("%s: %q joins across clusters", id, m[0])
				}
			}
			for name, a := range r.Annotations {
				for _, m := range tmplQueryRE.FindAllStringSubmatch(a, -1) {
					if !strings.Contains(m[1], `k8s_cluster=%q`) || !strings.Contains(m[2], "$labels.k8s_cluster") {
						t.Errorf("%s %s: query %q (args %q) is not keyed on the cluster", id, name, m[1], m[2])
					}
					if strings.Count(m[1], "%q") != strings.Count(m[2], "$labels.") {
						t.Errorf("%s %s: query %q has %d %%q for args %q", id, name, m[1], strings.Count(m[1], "%q"), m[2])
					}
				}
			}
		}
	}
}

// Each alert has promtool cases where it fires and where it stays silent.
func TestPromtoolCasesCoverEveryAlert(t *testing.T) {
	t.Parallel()
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, f := range promtoolTestFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			RuleFiles []string `json:"rule_files"`
			Tests     []struct {
				AlertRuleTest []struct {
					Alertname string `json:"alertname"`
					ExpAlerts []struct {
						ExpLabels      map[string]string `json:"exp_labels"`
						ExpAnnotations map[string]string `json:"exp_annotations"`
					} `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := []string{"../ipamwatch.rules.yaml"}
		if filepath.Base(filepath.Dir(f)) == "multicluster" {
			want = []string{"ipamwatch.rules.yaml"}
		}
		if diff := cmp.Diff(want, doc.RuleFiles); diff != "" {
			t.Errorf("%s: rule_files (-want +got):\n%s", f, diff)
		}
		for _, tc := range doc.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
					continue
				}
				for _, e := range at.ExpAlerts {
					if e.ExpLabels["severity"] == "" || e.ExpAnnotations["description"] == "" || e.ExpAnnotations["summary"] == "" || e.ExpAnnotations["runbook_url"] == "" {
						t.Errorf("%s: a case of %s does not assert severity and every annotation", f, at.Alertname)
					}
				}
				fires[at.Alertname] = true
			}
		}
	}
	var missing []string
	for _, a := range Build(DefaultParams()).Alerts {
		if !fires[a.Name] {
			missing = append(missing, a.Name+" (firing)")
		}
		if !silent[a.Name] {
			missing = append(missing, a.Name+" (silent)")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("promtool cases missing for: %s", strings.Join(missing, ", "))
	}
}

func TestDocsListEveryAlert(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, AlertsDocPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Build(DefaultParams()).Alerts {
		if !bytes.Contains(doc, []byte("| `"+a.Name+"` | "+string(a.Severity)+" |")) {
			t.Errorf("docs/alerts.md has no row for %s", a.Name)
		}
	}
}

// The README's alert table lists every alert with its severity and scope.
func TestReadmeListsEveryAlert(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Build(DefaultParams()).Alerts {
		row := fmt.Sprintf("| [%#q](docs/runbooks/%s.md) | %s | %s |", a.Name, a.Name, a.Severity, a.Per())
		if !bytes.Contains(readme, []byte(row)) {
			t.Errorf("README.md has no row %q", row)
		}
	}
}
