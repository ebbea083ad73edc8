package alerts

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// Params are the knobs of the generated rules: selectors, thresholds, per-alert overrides and
// the few facts about the deployment that runbooks quote. DefaultParams is what the committed
// files are generated from; the Helm chart renders the same rules from its values (ChartRules),
// and a test keeps the chart's defaults equal to DefaultParams.
type Params struct {
	// ClusterLabel names the label that tells clusters apart in a Prometheus, Thanos, Mimir or
	// Amazon Managed Prometheus that holds several (for example "cluster"). When set, every
	// recording rule keeps it in its `by`, every alert aggregates per cluster and every
	// annotation query matches the alert's cluster. Empty (the default) means one cluster.
	ClusterLabel string
	// Selector is added to every selector of an ipamwatch series (for example `env="prod"`).
	// Empty means no extra matcher.
	Selector string
	// Job is a regular expression matching the scrape job(s) of the agent; used by the
	// absent-target and target-down alerts, which can only look at `up`. With
	// prometheus-operator the job is the monitor's jobLabel value, else the Service name
	// (ServiceMonitor) or "<namespace>/<name>" (PodMonitor); docs/alerts.md explains.
	Job string
	// RunbookBaseURL is where runbook_url annotations point; the file name is <AlertName>.md.
	RunbookBaseURL string
	// RuleLabels are added to the labels of every alert (routing, team, ...).
	RuleLabels map[string]string
	// Disabled names alerts that are left out.
	Disabled []string
	// For overrides the `for` of alerts by name.
	For map[string]string

	Thresholds

	// SubnetMetrics names the cluster-level subnet series (owned by the subnets work stream).
	SubnetMetrics SubnetMetricNames

	// ForCap, when set, shortens every alert's `for` to at most this duration: for end-to-end
	// tests against a live demo, which cannot wait an hour. Empty (the default) keeps the catalog's.
	ForCap string

	// Runbook facts: where the agent runs, so that the commands in runbooks are exact.
	Namespace   string // namespace of the DaemonSet
	PodSelector string // label selector of the agent's pods
	Port        int    // port serving /metrics and /diagnosis
}

// Thresholds are the numbers alerts compare with. Each is one chart value
// (prometheusRule.thresholds.<key>, see tunables).
type Thresholds struct {
	// FailureWindow is the look-back for "failing now" alerts (allocation failures, log events).
	FailureWindow string
	// PoolCeilingRatio: assigned pod IPs over the IPs the node can ever hold above which the
	// node is near its ceiling.
	PoolCeilingRatio float64
	// BranchENIRatio: requested over advertised branch ENIs above which the budget is nearly gone.
	BranchENIRatio float64
	// SubnetHeldRatio: node-held addresses over the subnet size above which the subnet is
	// nearly full (a lower bound of its real use).
	SubnetHeldRatio float64
	// HoardingSubnetRatio: idle (free, warm) addresses held by nodes over the subnet size above
	// which warm pools hoard the subnet.
	HoardingSubnetRatio float64
	// HoardingMinIdle: fewer idle addresses than this never count as hoarding (small subnets).
	HoardingMinIdle int
	// LogStall: no line read from ipamd.log for longer than this means the tail is stuck.
	LogStall string
	// SubnetFreeRatio: free addresses over the subnet size below which the subnet is low
	// (cluster-level subnet metrics).
	SubnetFreeRatio float64
	// SubnetFreePrefixBlocksMin: fewer free /28 blocks than this, while free addresses would
	// fill that many blocks, means the subnet is fragmented for prefix delegation.
	SubnetFreePrefixBlocksMin int
	// SubnetStale: the subnet analysis' last success older than this is stale.
	SubnetStale string
	// ForecastWindow is the look-back of a subnet's consumption rate (deriv's least-squares
	// slope); ForecastLongWindow the confirming one (docs/forecast.md measures both).
	ForecastWindow     string
	ForecastLongWindow string
	// RunsOutWithin: a subnet that runs out sooner than this at the window's rate (and within
	// ConfirmWithin at the long window's) fires IpamwatchSubnetExhaustionForecast.
	RunsOutWithin string
	ConfirmWithin string
}

// tunable is one threshold as the chart exposes it: its values key, what it means, and how the
// rules spell its value.
type tunable struct {
	key  string
	doc  string
	kind string // duration | ratio | count
	get  func(Thresholds) string
}

// tunables lists every threshold in the order of docs/alerts.md and the chart's values.
var tunables = []tunable{
	{"failureWindow", "look-back of the failing-now alerts (allocation failures, log events)", "duration", func(t Thresholds) string { return t.FailureWindow }},
	{"poolCeilingRatio", "share of the node's pod IPs in use above which the pool is near its ceiling", "ratio", func(t Thresholds) string { return ratio(t.PoolCeilingRatio) }},
	{"branchENIRatio", "share of the node's branch ENIs requested above which the budget is nearly gone", "ratio", func(t Thresholds) string { return ratio(t.BranchENIRatio) }},
	{"subnetHeldRatio", "share of a subnet held by nodes above which it is nearly full (a lower bound)", "ratio", func(t Thresholds) string { return ratio(t.SubnetHeldRatio) }},
	{"hoardingSubnetRatio", "share of a subnet idle in warm pools above which warm pools hoard it", "ratio", func(t Thresholds) string { return ratio(t.HoardingSubnetRatio) }},
	{"hoardingMinIdle", "fewer idle addresses than this never count as hoarding", "count", func(t Thresholds) string { return strconv.Itoa(t.HoardingMinIdle) }},
	{"logStall", "no ipamd.log line read for this long means the tail is stuck", "duration", func(t Thresholds) string { return t.LogStall }},
	{"subnetFreeRatio", "share of a subnet free below which it is low (cluster-level subnet view)", "ratio", func(t Thresholds) string { return ratio(t.SubnetFreeRatio) }},
	{"subnetFreePrefixBlocksMin", "fewer whole free /28 blocks than this means fragmentation (cluster-level subnet view)", "count", func(t Thresholds) string { return strconv.Itoa(t.SubnetFreePrefixBlocksMin) }},
	{"subnetStale", "the subnet analysis' last success older than this is stale", "duration", func(t Thresholds) string { return t.SubnetStale }},
	{"forecastWindow", "look-back of a subnet's consumption rate (least-squares slope)", "duration", func(t Thresholds) string { return t.ForecastWindow }},
	{"forecastLongWindow", "look-back of the confirming consumption rate", "duration", func(t Thresholds) string { return t.ForecastLongWindow }},
	{"runsOutWithin", "a subnet that runs out sooner than this at the current rate fires the forecast alert", "duration", func(t Thresholds) string { return t.RunsOutWithin }},
	{"confirmWithin", "and sooner than this at the long window's rate", "duration", func(t Thresholds) string { return t.ConfirmWithin }},
}

func ratio(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func tunableByKey(key string) tunable {
	for _, t := range tunables {
		if t.key == key {
			return t
		}
	}
	panic("alerts: unknown tunable " + key) // a typo in the catalog; every test catches it
}

// SubnetMetricNames are the cluster-level series about a subnet as EC2 sees it (not node-local).
type SubnetMetricNames struct {
	Size               string // gauge {subnet_id}: addresses in the subnet's IPv4 CIDR
	FreeAddresses      string // gauge {subnet_id}: addresses EC2 may still assign
	FreePrefixBlocks   string // gauge {subnet_id}: aligned /28 blocks that are entirely free
	FragmentationRatio string // gauge {subnet_id}: share of free addresses outside free /28 blocks
	LastSuccess        string // gauge: Unix time of the analysis' last successful EC2 poll (0 = never)
	Errors             string // counter: failed EC2 polls
	Leader             string // gauge: 1 on the replica that holds the leader lease
}

// DefaultRunbookBaseURL is where the runbook_url annotations point by default.
const DefaultRunbookBaseURL = "https://github.com/ipamwatch/ipamwatch/blob/main/docs/runbooks/"

// DefaultParams returns the parameters the committed rule files are generated with.
func DefaultParams() Params {
	return Params{
		Job:            "ipamwatch",
		RunbookBaseURL: DefaultRunbookBaseURL,
		Thresholds: Thresholds{
			FailureWindow:             "10m",
			PoolCeilingRatio:          0.9,
			BranchENIRatio:            0.9,
			SubnetHeldRatio:           0.9,
			HoardingSubnetRatio:       0.2,
			HoardingMinIdle:           64,
			LogStall:                  "10m",
			SubnetFreeRatio:           0.1,
			SubnetFreePrefixBlocksMin: 4,
			SubnetStale:               "30m",
			ForecastWindow:            "2h",
			ForecastLongWindow:        "6h",
			RunsOutWithin:             "4h",
			ConfirmWithin:             "8h",
		},
		SubnetMetrics: SubnetMetricNames{
			Size:               "ipamwatch_subnet_size_addresses",
			FreeAddresses:      "ipamwatch_subnet_free_addresses",
			FreePrefixBlocks:   "ipamwatch_subnet_free_prefix_blocks",
			FragmentationRatio: "ipamwatch_subnet_fragmentation_ratio",
			LastSuccess:        "ipamwatch_subnet_last_success_timestamp_seconds",
			Errors:             "ipamwatch_subnet_scrape_errors_total",
			Leader:             "ipamwatch_subnet_leader",
		},
		Namespace:   "ipamwatch",
		PodSelector: "app.kubernetes.io/name=ipamwatch",
		Port:        9713,
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// A matcher list as written inside braces: name op "value", comma separated.
	selectorRE = regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*(,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*)*$`)
	// The durations the chart can turn into seconds (one unit), for thresholds compared with time().
	simpleDurationRE = regexp.MustCompile(`^[1-9][0-9]*(s|m|h|d)$`)
	urlRE            = regexp.MustCompile(`^https?://[^\s'"{}<>\\]+/$`)
)

// reservedLabels are labels the rules or Prometheus set themselves.
var reservedLabels = map[string]bool{"severity": true, "alertname": true, "alertstate": true, "__name__": true}

// Validate reports every problem of p at once.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.ClusterLabel != "" && (!labelNameRE.MatchString(p.ClusterLabel) || reservedLabels[p.ClusterLabel] || scopeLabel(p.ClusterLabel)) {
		bad("cluster label %q: want a label name other than node, subnet_id, severity and alertname", p.ClusterLabel)
	}
	if p.Selector != "" && !selectorRE.MatchString(p.Selector) {
		bad("selector %q: want matchers like name=\"value\", comma separated, without braces", p.Selector)
	}
	if p.Job == "" {
		bad("job: empty; want a regular expression matching the agent's scrape job")
	} else if _, err := regexp.Compile("^(?:" + p.Job + ")$"); err != nil {
		bad("job %q: %v", p.Job, err)
	} else if strings.ContainsAny(p.Job, "\"\\'`") {
		bad("job %q: quotes and backslashes are not supported", p.Job)
	}
	if !urlRE.MatchString(p.RunbookBaseURL) {
		bad("runbook base URL %q: want an http(s) URL ending in /", p.RunbookBaseURL)
	}
	for k, v := range p.RuleLabels {
		if !labelNameRE.MatchString(k) || reservedLabels[k] || scopeLabel(k) || k == p.ClusterLabel {
			bad("rule label %q: not a label name, or one the rules set themselves", k)
		}
		if strings.ContainsAny(v, "{}\n") {
			bad("rule label %s=%q: braces and newlines are not supported", k, v)
		}
	}
	known := map[string]bool{}
	for _, a := range catalogAlerts(p) {
		known[a.Name] = true
	}
	for _, n := range p.Disabled {
		if !known[n] {
			bad("disabled alert %q: no such alert", n)
		}
	}
	for n, d := range p.For {
		if !known[n] {
			bad("for of %q: no such alert", n)
		}
		if v, err := model.ParseDuration(d); err != nil || v <= 0 {
			bad("for of %s %q: want a positive Prometheus duration such as 10m", n, d)
		}
	}
	t := p.Thresholds
	if v, err := model.ParseDuration(t.FailureWindow); err != nil || v <= 0 {
		bad("failure window %q: want a positive Prometheus duration such as 10m", t.FailureWindow)
	}
	for _, d := range []struct{ name, v string }{
		{"log stall", t.LogStall}, {"subnet stale", t.SubnetStale},
		{"forecast window", t.ForecastWindow}, {"forecast long window", t.ForecastLongWindow},
		{"runs out within", t.RunsOutWithin}, {"confirm within", t.ConfirmWithin},
	} {
		if !simpleDurationRE.MatchString(d.v) {
			bad("%s %q: want a positive duration with one unit (s, m, h or d) such as 10m", d.name, d.v)
		}
	}
	if simpleDurationRE.MatchString(t.ForecastWindow) && simpleDurationRE.MatchString(t.ForecastLongWindow) {
		if w := durationSeconds(t.ForecastWindow); w < 600 || durationSeconds(t.ForecastLongWindow) < w {
			bad("forecast windows %s and %s: want a window of at least 10m and a long window at least as long", t.ForecastWindow, t.ForecastLongWindow)
		}
	}
	if simpleDurationRE.MatchString(t.RunsOutWithin) && simpleDurationRE.MatchString(t.ConfirmWithin) &&
		durationSeconds(t.ConfirmWithin) < durationSeconds(t.RunsOutWithin) {
		bad("confirm within %s: want at least runs out within (%s)", t.ConfirmWithin, t.RunsOutWithin)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"pool ceiling ratio", t.PoolCeilingRatio}, {"branch ENI ratio", t.BranchENIRatio},
		{"subnet held ratio", t.SubnetHeldRatio}, {"hoarding subnet ratio", t.HoardingSubnetRatio},
		{"subnet free ratio", t.SubnetFreeRatio},
	} {
		if !(r.v > 0 && r.v <= 1) {
			bad("%s %v: want a ratio in (0, 1]", r.name, r.v)
		}
	}
	if p.ForCap != "" {
		if _, err := model.ParseDuration(p.ForCap); err != nil {
			bad("for cap %q: want a Prometheus duration such as 30s", p.ForCap)
		}
	}
	if t.HoardingMinIdle < 0 {
		bad("hoarding min idle %d: want >= 0", t.HoardingMinIdle)
	}
	if t.SubnetFreePrefixBlocksMin < 1 {
		bad("subnet free prefix blocks min %d: want >= 1", t.SubnetFreePrefixBlocksMin)
	}
	for _, m := range []struct{ name, v string }{
		{"subnet size metric", p.SubnetMetrics.Size},
		{"subnet free addresses metric", p.SubnetMetrics.FreeAddresses},
		{"subnet free prefix blocks metric", p.SubnetMetrics.FreePrefixBlocks},
		{"subnet fragmentation ratio metric", p.SubnetMetrics.FragmentationRatio},
		{"subnet last success metric", p.SubnetMetrics.LastSuccess},
		{"subnet errors metric", p.SubnetMetrics.Errors},
		{"subnet leader metric", p.SubnetMetrics.Leader},
	} {
		if !metricNameRE.MatchString(m.v) {
			bad("%s %q: not a metric name", m.name, m.v)
		}
	}
	if p.Namespace == "" || p.PodSelector == "" || p.Port <= 0 || p.Port > 65535 {
		bad("runbook facts: namespace %q, pod selector %q and port %d must all be set", p.Namespace, p.PodSelector, p.Port)
	}
	return errors.Join(errs...)
}

// scopeLabel reports whether a label name is one the alerts aggregate by.
func scopeLabel(l string) bool { return l == "node" || l == "subnet_id" }

// disabled reports whether the alert is left out.
func (p Params) disabled(name string) bool {
	for _, n := range p.Disabled {
		if n == name {
			return true
		}
	}
	return false
}
