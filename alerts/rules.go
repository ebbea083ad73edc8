package alerts

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Group is one Prometheus rule group.
type Group struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is one recording or alerting rule, in the shape of a Prometheus rules file.
type Rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Alert is one alert of the catalog with everything the docs say about it.
type Alert struct {
	Name     string
	Group    string
	Severity string // critical | warning | info
	For      string
	Expr     string
	// Summary is static text; Description is a template that quotes the numbers.
	Summary     string
	Description string
	// Meaning is the one-line explanation of docs/alerts.md.
	Meaning string
	// Cause is the diagnosis finding cause the alert keys on, if any.
	Cause   string
	Runbook Runbook
}

// Runbook is the body of docs/runbooks/<AlertName>.md (Markdown).
type Runbook struct {
	Symptom string
	Confirm string
	Fix     string
	Verify  string
}

// Recording is one recording rule with its group.
type Recording struct {
	Group  string
	Record string
	Expr   string
}

// RunbookBaseURL is where runbook_url annotations point; the file name is <AlertName>.md.
const RunbookBaseURL = "https://github.com/ipamwatch/ipamwatch/blob/main/docs/runbooks/"

// Group names. The cluster-level subnet group is separate because its series come from the
// subnets work stream and may be renamed (Params.SubnetMetrics).
const (
	GroupRecording = "ipamwatch.rules"
	GroupNode      = "ipamwatch.node.alerts"
	GroupSubnet    = "ipamwatch.subnet.alerts"
	GroupAgent     = "ipamwatch.agent.alerts"
	GroupSubnets   = "ipamwatch.subnets"
)

var groupOrder = []string{GroupRecording, GroupNode, GroupSubnet, GroupAgent, GroupSubnets}

// Groups builds the rule groups from p: recording rules first in each group, then alerts.
func Groups(p Params) ([]Group, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid alert parameters: %w", err)
	}
	c := Build(p)
	byName := map[string]*Group{}
	var out []Group
	for _, n := range groupOrder {
		out = append(out, Group{Name: n})
	}
	for i := range out {
		byName[out[i].Name] = &out[i]
	}
	for _, r := range c.Recordings {
		g, ok := byName[r.Group]
		if !ok {
			return nil, fmt.Errorf("recording rule %s: unknown group %q", r.Record, r.Group)
		}
		g.Rules = append(g.Rules, Rule{Record: r.Record, Expr: r.Expr})
	}
	for _, a := range c.Alerts {
		if p.ForCap != "" && seconds(p.ForCap) < seconds(a.For) {
			a.For = p.ForCap
		}
		g, ok := byName[a.Group]
		if !ok {
			return nil, fmt.Errorf("alert %s: unknown group %q", a.Name, a.Group)
		}
		g.Rules = append(g.Rules, Rule{
			Alert: a.Name,
			Expr:  a.Expr,
			For:   a.For,
			Labels: map[string]string{
				"severity": a.Severity,
			},
			Annotations: map[string]string{
				"summary":     a.Summary,
				"description": a.Description,
				"runbook_url": RunbookBaseURL + a.Name + ".md",
			},
		})
	}
	var nonEmpty []Group
	for _, g := range out {
		if len(g.Rules) > 0 {
			nonEmpty = append(nonEmpty, g)
		}
	}
	return nonEmpty, nil
}

// Catalog is every rule the generator knows, with its documentation.
type Catalog struct {
	Recordings []Recording
	Alerts     []Alert
}

// RecordingNames lists the names of the recording rules, sorted.
func (c Catalog) RecordingNames() []string {
	var n []string
	for _, r := range c.Recordings {
		n = append(n, r.Record)
	}
	sort.Strings(n)
	return n
}

// b holds the parameters while the catalog is built and writes selectors and template snippets.
type b struct{ p Params }

// s writes a selector of metric with the matchers and Params.Selector.
func (x b) s(metric string, matchers ...string) string {
	if x.p.Selector != "" {
		matchers = append(matchers, x.p.Selector)
	}
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ",") + "}"
}

// keyed writes a selector for a template query: like s, plus label=%q so that printf can insert
// the alert's label value.
func (x b) keyed(label, metric string, matchers ...string) string {
	return x.s(metric, append(matchers, label+"=%q")...)
}

// The template snippets below run a PromQL query from an alert's annotation, with the alert's
// label (node or subnet_id) filled in, and print one number or label of the first result.
// The query text is a raw string (backquotes) so that PromQL's double quotes need no escaping.

// args turns "node" or "source node" into the template arguments $labels.node ($labels.source ...).
func args(labels string) string {
	f := strings.Fields(labels)
	for i := range f {
		f[i] = "$labels." + f[i]
	}
	return strings.Join(f, " ")
}

// count prints the query's first value as an integer, or def when the query returns nothing.
func count(label, query, def string) string {
	return fmt.Sprintf("{{ with printf %#q %s | query }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}%s{{ end }}", query, args(label), def)
}

// pct prints the query's first value as a percentage.
func pct(label, query, def string) string {
	return fmt.Sprintf("{{ with printf %#q %s | query }}{{ . | first | value | humanizePercentage }}{{ else }}%s{{ end }}", query, args(label), def)
}

// lbl prints a label of the query's first result.
func lbl(label, query, name, def string) string {
	return fmt.Sprintf("{{ with printf %#q %s | query }}{{ . | first | label %q }}{{ else }}%s{{ end }}", query, args(label), name, def)
}

// age prints how long ago the Unix time the query returns was.
func age(label, query, def string) string {
	return fmt.Sprintf("{{ with printf `time() - (%s)` %s | query }}{{ . | first | value | humanizeDuration }} ago{{ else }}%s{{ end }}", query, args(label), def)
}

// seconds converts a Prometheus duration parameter (validated) to seconds.
func seconds(d string) int64 {
	v, err := model.ParseDuration(d)
	if err != nil {
		panic(fmt.Sprintf("duration %q passed validation but does not parse: %v", d, err))
	}
	return int64(time.Duration(v).Seconds())
}

// trim removes the indentation of a multi-line expression written inside Go source.
func trim(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent {
			l = strings.TrimRight(l[indent:], " \t")
			rest := strings.TrimLeft(l, "\t")
			lines[i] = strings.Repeat("  ", len(l)-len(rest)) + rest
		}
	}
	return strings.Join(lines, "\n")
}
