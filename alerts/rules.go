package alerts

import (
	"fmt"
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

// Groups builds the rule groups from p: recording rules first, then the alert groups, each
// alert with its severity, p's rule labels and its annotations; disabled alerts and empty
// groups are left out.
func Groups(p Params) ([]Group, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid alert parameters: %w", err)
	}
	c := Build(p)
	out := make([]Group, len(groupOrder))
	byName := map[string]*Group{}
	for i, n := range groupOrder {
		out[i].Name = n
		byName[n] = &out[i]
	}
	for _, r := range c.Recordings {
		g, ok := byName[r.Group]
		if !ok {
			return nil, fmt.Errorf("recording rule %s: unknown group %q", r.Record, r.Group)
		}
		g.Rules = append(g.Rules, Rule{Record: r.Record, Expr: r.Expr})
	}
	for _, a := range c.Alerts {
		if p.disabled(a.Name) {
			continue
		}
		g, ok := byName[a.Group]
		if !ok {
			return nil, fmt.Errorf("alert %s: unknown group %q", a.Name, a.Group)
		}
		g.Rules = append(g.Rules, p.rule(a))
	}
	var nonEmpty []Group
	for _, g := range out {
		if len(g.Rules) > 0 {
			nonEmpty = append(nonEmpty, g)
		}
	}
	return nonEmpty, nil
}

// rule turns a catalog alert into a rule with p's overrides.
func (p Params) rule(a Alert) Rule {
	forDur := a.For
	if d, ok := p.For[a.Name]; ok {
		forDur = d
	}
	if p.ForCap != "" && durationSeconds(p.ForCap) < durationSeconds(forDur) {
		forDur = p.ForCap
	}
	labels := map[string]string{"severity": string(a.Severity)}
	for k, v := range p.RuleLabels {
		labels[k] = v
	}
	return Rule{
		Alert:  a.Name,
		Expr:   a.Expr,
		For:    forDur,
		Labels: labels,
		Annotations: map[string]string{
			"summary":     a.Summary,
			"description": a.Description,
			"runbook_url": p.RunbookBaseURL + a.Name + ".md",
		},
	}
}
