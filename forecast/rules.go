package forecast

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// RuleParams are the knobs of the forecast rules.
type RuleParams struct {
	// Selector is added to every selector of an ipamwatch series (for example
	// `cluster="prod"`); empty means none.
	Selector string
	// By are labels kept next to subnet_id in every aggregation (for example "cluster" when
	// one Prometheus holds several clusters).
	By []string
	// Window is the look-back of the consumption rate (deriv's least-squares slope). See
	// docs/forecast.md for why 2h.
	Window time.Duration
	// LongWindow is the confirming window: the alert also needs the subnet to run out within
	// ConfirmWithin at this window's slope, so that one burst in the short window does not
	// fire it on its own (the multi-window habit of SLO burn-rate alerts).
	LongWindow time.Duration
	// RunsOutWithin is N of "the subnet runs out within N hours at the current rate".
	RunsOutWithin time.Duration
	// ConfirmWithin is the horizon at LongWindow's slope, at least RunsOutWithin. Twice
	// RunsOutWithin (the default) keeps the alert early on growth that started less than
	// LongWindow ago; equal to it makes the alert quieter on busy, nearly full subnets and later
	// on bursts (docs/forecast.md has both measured).
	ConfirmWithin time.Duration
	// For is the alert's `for`.
	For time.Duration
}

// DefaultRuleParams are the measured defaults (docs/forecast.md).
func DefaultRuleParams() RuleParams {
	return RuleParams{
		Window: 2 * time.Hour, LongWindow: 6 * time.Hour,
		RunsOutWithin: 4 * time.Hour, ConfirmWithin: 8 * time.Hour, For: 15 * time.Minute,
	}
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate says what is wrong with p.
func (p RuleParams) Validate() error {
	switch {
	case p.Window < 10*time.Minute:
		return fmt.Errorf("%w: the rate window must be at least 10m (a slope needs several samples), got %s", ErrInvalidInput, p.Window)
	case p.LongWindow < p.Window:
		return fmt.Errorf("%w: the long window (%s) must not be shorter than the window (%s)", ErrInvalidInput, p.LongWindow, p.Window)
	case p.RunsOutWithin <= 0:
		return fmt.Errorf("%w: RunsOutWithin must be positive, got %s", ErrInvalidInput, p.RunsOutWithin)
	case p.ConfirmWithin < p.RunsOutWithin:
		return fmt.Errorf("%w: ConfirmWithin (%s) must not be shorter than RunsOutWithin (%s)", ErrInvalidInput, p.ConfirmWithin, p.RunsOutWithin)
	case p.For < 0:
		return fmt.Errorf("%w: For must not be negative, got %s", ErrInvalidInput, p.For)
	}
	for _, l := range p.By {
		if !labelName.MatchString(l) || l == "subnet_id" {
			return fmt.Errorf("%w: %q cannot be an aggregation label", ErrInvalidInput, l)
		}
	}
	return nil
}

// Rule is one recording or alerting rule in the shape of a Prometheus rules file.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Names of the recorded series and the alert. The first two are the same rules (name and
// expression) as the alert generator's recording group; once the forecast is wired in there,
// they are not repeated.
const (
	RecordHeld          = "subnet_id:ipamwatch_subnet_node_held_addresses:sum"
	RecordCIDR          = "subnet_id:ipamwatch_subnet_cidr_addresses:max"
	RecordNodes         = "subnet_id:ipamwatch_subnet_nodes:count"
	RecordIdle          = "subnet_id:ipamwatch_subnet_idle_addresses:sum"
	RecordFreeNodeLocal = "subnet_id:ipamwatch_subnet_free_addresses:node_local"
	RecordFreeExact     = "subnet_id:ipamwatch_subnet_free_addresses:exact"
	RecordFree          = "subnet_id:ipamwatch_subnet_free_addresses:best"
	RecordUsedExact     = "subnet_id:ipamwatch_subnet_used_addresses:exact"
	RecordRate          = "subnet_id:ipamwatch_subnet_consumption_addresses_per_second:deriv"
	RecordRateLong      = "subnet_id:ipamwatch_subnet_consumption_addresses_per_second:deriv_long"
	RecordExhaustion    = "subnet_id:ipamwatch_subnet_exhaustion_seconds:forecast"
	RecordIdleShare     = "subnet_id:ipamwatch_subnet_idle_addresses:ratio"
	AlertExhaustion     = "IpamwatchSubnetExhaustionForecast"
)

// Rules returns the forecast's recording rules, in dependency order, then its alert.
//
// The method: the consumption rate is deriv() (a least-squares slope) over Window of the
// subnet's used addresses, exact where `ipamwatch subnets` runs, else the sum of what the
// nodes hold; time to exhaustion is the free addresses (same basis preference) divided by a
// positive rate. The alert fires when that is below RunsOutWithin, and below ConfirmWithin at
// LongWindow's slope, for For, and only for a subnet observed for the whole window (a slope
// over a few minutes of data is noise).
func Rules(p RuleParams) ([]Rule, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sel := func(metric string, matchers ...string) string {
		if p.Selector != "" {
			matchers = append(matchers, p.Selector)
		}
		if len(matchers) == 0 {
			return metric
		}
		return metric + "{" + strings.Join(matchers, ",") + "}"
	}
	by := strings.Join(append([]string{"subnet_id"}, p.By...), ", ")
	on := "on (" + by + ")"
	w := model.Duration(p.Window).String()
	wl := model.Duration(p.LongWindow).String()
	rec := func(name, expr string) Rule { return Rule{Record: name, Expr: dedent(expr)} }

	rules := []Rule{
		rec(RecordHeld, fmt.Sprintf(`sum by (%s) (%s)`, by, sel("ipamwatch_subnet_node_held_addresses"))),
		rec(RecordCIDR, fmt.Sprintf(`max by (%s) (%s)`, by, sel("ipamwatch_subnet_cidr_addresses"))),
		rec(RecordNodes, fmt.Sprintf(`count by (%s) (%s > 0)`, by, sel("ipamwatch_subnet_node_held_addresses"))),
		rec(RecordIdle, fmt.Sprintf(`sum by (%s) (%s)`, by, sel("ipamwatch_eni_ip_addresses", `state!="assigned"`))),
		// Node-local: the CIDR minus AWS's 5 minus what the nodes hold. An upper bound of the
		// free addresses: other holders are invisible.
		rec(RecordFreeNodeLocal, fmt.Sprintf(`clamp_min(%s - %d - %s %s, 0)`, RecordCIDR, AWSReservedAddresses, on, RecordHeld)),
		rec(RecordFreeExact, fmt.Sprintf(`max by (%s) (%s)`, by, sel("ipamwatch_subnet_free_addresses"))),
		rec(RecordUsedExact, fmt.Sprintf(`sum by (%s) (%s)`, by, sel("ipamwatch_subnet_used_addresses"))),
		rec(RecordFree, fmt.Sprintf(`
			label_replace(%s, "basis", "exact", "", "")
			or %s
			label_replace(%s, "basis", "node_local", "", "")`, RecordFreeExact, on, RecordFreeNodeLocal)),
		// The slope of use, addresses per second. The exact series moves in 5-minute steps (the
		// subnets poll); the least-squares slope over the window does not mind.
		rec(RecordRate, fmt.Sprintf(`
			deriv(%s[%s])
			or %s
			deriv(%s[%s])`, RecordUsedExact, w, on, RecordHeld, w)),
		rec(RecordRateLong, fmt.Sprintf(`
			deriv(%s[%s])
			or %s
			deriv(%s[%s])`, RecordUsedExact, wl, on, RecordHeld, wl)),
		// group_left keeps the basis label (one-to-one matching with on() keeps only the on labels).
		rec(RecordExhaustion, fmt.Sprintf(`%s / %s group_left () (%s > 0)`, RecordFree, on, RecordRate)),
		rec(RecordIdleShare, fmt.Sprintf(`%s / %s %s`, RecordIdle, on, RecordCIDR)),
	}

	hours := p.RunsOutWithin.Hours()
	// Descriptions query numbers for the alert's own subnet: the matcher uses indexed printf
	// verbs, so a query may name the subnet more than once.
	var ms, args []string
	for i, l := range append([]string{"subnet_id"}, p.By...) {
		ms = append(ms, fmt.Sprintf("%s=%%[%d]q", l, i+1))
		args = append(args, "$labels."+l)
	}
	subnet := "{" + strings.Join(ms, ", ") + "}"
	q := func(expr, format string) string {
		return fmt.Sprintf("{{ with printf %q %s | query }}{{ . | first | value | %s }}{{ else }}unknown{{ end }}",
			expr, strings.Join(args, " "), format)
	}
	rules = append(rules, Rule{
		Alert: AlertExhaustion,
		Expr: dedent(fmt.Sprintf(`
			%[1]s < %[2]g
			and %[3]s
			%[4]s / %[3]s (%[5]s > 0) < %[6]g
			and %[3]s
			%[7]s offset %[8]s`, RecordExhaustion, p.RunsOutWithin.Seconds(), on, RecordFree, RecordRateLong,
			p.ConfirmWithin.Seconds(), RecordHeld, w)),
		For:    model.Duration(p.For).String(),
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("A subnet runs out of addresses within %g hours at the current rate.", hours),
			"description": fmt.Sprintf("Subnet {{ $labels.subnet_id }} has %s free addresses (basis {{ $labels.basis }}) and uses %s more per hour (slope over %s): it runs out in {{ $value | humanizeDuration }}. Nodes holding addresses there: %s now, %s more than %s ago. Idle warm-pool addresses are %s of the subnet.",
				q(RecordFree+subnet, `printf "%.0f"`),
				q(RecordRate+subnet+" * 3600", `printf "%.0f"`), w,
				q(RecordNodes+subnet, `printf "%.0f"`),
				q(fmt.Sprintf("%s%s - %s%s offset %s", RecordNodes, subnet, RecordNodes, subnet, w), `printf "%+.0f"`), w,
				q(RecordIdleShare+subnet, "humanizePercentage")),
		},
	})
	return rules, nil
}

// RulesFile renders the rules as a Prometheus rules file with one group.
func RulesFile(p RuleParams, group string) ([]byte, error) {
	rules, err := Rules(p)
	if err != nil {
		return nil, err
	}
	type grp struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	}
	return yaml.Marshal(struct {
		Groups []grp `yaml:"groups"`
	}{[]grp{{Name: group, Rules: rules}}})
}

// dedent joins an expression written over indented lines into PromQL with single line breaks.
func dedent(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
