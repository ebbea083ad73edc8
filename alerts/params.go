package alerts

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
)

// Params are the knobs of the generated rules: selectors, thresholds and the few facts about the
// deployment that runbooks quote. DefaultParams is what the committed files are generated from;
// someone who needs other thresholds builds their own Params and calls RulesFile.
type Params struct {
	// Selector is added to every selector of an ipamwatch series, for Prometheus servers that
	// hold several clusters (for example `cluster="prod"`). Empty means no extra matcher.
	Selector string
	// Job is a regular expression matching the scrape job(s) of the agent; used by the
	// absent-target and target-down alerts, which can only look at `up`.
	Job string

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

// DefaultParams returns the parameters the committed rule files are generated with.
func DefaultParams() Params {
	return Params{
		Job:                       "ipamwatch",
		FailureWindow:             "10m",
		PoolCeilingRatio:          0.9,
		BranchENIRatio:            0.9,
		SubnetHeldRatio:           0.9,
		HoardingSubnetRatio:       0.2,
		HoardingMinIdle:           64,
		LogStall:                  "10m",
		SubnetFreeRatio:           0.1,
		SubnetFreePrefixBlocksMin: 4,
		SubnetMetrics: SubnetMetricNames{
			Size:               "ipamwatch_subnet_size_addresses",
			FreeAddresses:      "ipamwatch_subnet_free_addresses",
			FreePrefixBlocks:   "ipamwatch_subnet_free_prefix_blocks",
			FragmentationRatio: "ipamwatch_subnet_fragmentation_ratio",
			LastSuccess:        "ipamwatch_subnet_last_success_timestamp_seconds",
			Errors:             "ipamwatch_subnet_scrape_errors_total",
			Leader:             "ipamwatch_subnet_leader",
		},
		SubnetStale: "30m",
		Namespace:   "ipamwatch",
		PodSelector: "app.kubernetes.io/name=ipamwatch",
		Port:        9713,
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	// A matcher list as written inside braces: name op "value", comma separated.
	selectorRE = regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*(,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*)*$`)
)

// Validate reports every problem of p at once.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Selector != "" && !selectorRE.MatchString(p.Selector) {
		bad("selector %q: want matchers like name=\"value\", comma separated, without braces", p.Selector)
	}
	if p.Job == "" {
		bad("job: empty; want a regular expression matching the agent's scrape job")
	} else if _, err := regexp.Compile("^(?:" + p.Job + ")$"); err != nil {
		bad("job %q: %v", p.Job, err)
	} else if strings.ContainsAny(p.Job, "\"\\") {
		bad("job %q: quotes and backslashes are not supported", p.Job)
	}
	for _, d := range []struct{ name, v string }{{"failure window", p.FailureWindow}, {"log stall", p.LogStall}, {"subnet stale", p.SubnetStale}} {
		if v, err := model.ParseDuration(d.v); err != nil || v <= 0 {
			bad("%s %q: want a positive Prometheus duration such as 10m", d.name, d.v)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"pool ceiling ratio", p.PoolCeilingRatio}, {"branch ENI ratio", p.BranchENIRatio},
		{"subnet held ratio", p.SubnetHeldRatio}, {"hoarding subnet ratio", p.HoardingSubnetRatio},
		{"subnet free ratio", p.SubnetFreeRatio},
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
	if p.HoardingMinIdle < 0 {
		bad("hoarding min idle %d: want >= 0", p.HoardingMinIdle)
	}
	if p.SubnetFreePrefixBlocksMin < 1 {
		bad("subnet free prefix blocks min %d: want >= 1", p.SubnetFreePrefixBlocksMin)
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
