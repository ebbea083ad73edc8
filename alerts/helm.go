package alerts

import (
	"fmt"
	"regexp"
	"strings"
)

// ChartRulesPath is the Helm template the chart's PrometheusRule includes; it is generated from
// the same catalog as the plain rules file, with the tunable parts (thresholds, `for`,
// disabled alerts, extra labels, the runbook URL, the job, the cluster label) read from
// .Values.prometheusRule. With the chart's default values it renders exactly Groups(DefaultParams())
// (TestChartRendersDefaultRules).
const ChartRulesPath = "charts/ipamwatch/templates/_rules.tpl"

// helmActions turns the builder's markers into Helm actions.
var helmActions = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(mOpen + `if-cl` + mClose), `{{ if $$cl }}`},
	{regexp.MustCompile(mOpen + `else` + mClose), `{{ else }}`},
	{regexp.MustCompile(mOpen + `end` + mClose), `{{ end }}`},
	{regexp.MustCompile(mOpen + `cl` + mClose), `{{ $$cl }}`},
	{regexp.MustCompile(mOpen + `job` + mClose), `{{ $$job }}`},
	{regexp.MustCompile(mOpen + `url` + mClose), `{{ $$url }}`},
	{regexp.MustCompile(mOpen + `t:(\w+)` + mClose), `{{ $$t.$1 }}`},
	{regexp.MustCompile(mOpen + `sec:(\w+)` + mClose), `{{ include "ipamwatch.rules.seconds" $$t.$1 }}`},
	{regexp.MustCompile(mOpen + `mul:(\d+):(\w+)` + mClose), `{{ mul $1 $$t.$2 }}`},
	{regexp.MustCompile(mOpen + `for:(\w+):(\w+)` + mClose), `{{ index $$for "$1" | default "$2" }}`},
}

// helmify escapes the Prometheus templates of one value of the rules for Helm and turns the
// builder's markers into Helm actions.
func helmify(s string) (string, error) {
	s = strings.NewReplacer("{{", `{{ "{{" }}`, "}}", `{{ "}}" }}`).Replace(s)
	// A brace next to a marker would touch the Helm action it becomes ("{{{ $cl }}").
	s = strings.NewReplacer("{"+mOpen, `{{ "{" }}`+mOpen, mClose+"}", mClose+`{{ "}" }}`).Replace(s)
	for _, a := range helmActions {
		s = a.re.ReplaceAllString(s, a.repl)
	}
	if strings.Contains(s, mOpen) || strings.Contains(s, mClose) {
		return "", fmt.Errorf("a marker of the rule builder has no Helm action: %q", s)
	}
	return s, nil
}

// ChartRules renders the chart's rules template: the named templates ipamwatch.rules.groups
// (the rule groups, called with a dict of root, the chart's context, and job, the agent's scrape
// job) and ipamwatch.rules.seconds (a one-unit duration in seconds).
func ChartRules() ([]byte, error) {
	p := DefaultParams()
	x := builder{p: p, helm: true}
	c := x.catalog()
	var names []string
	for _, a := range c.Alerts {
		names = append(names, fmt.Sprintf("%q", a.Name))
	}

	var err error
	// h escapes one value of the rules for Helm; the first error is kept.
	h := func(v string) string {
		out, e := helmify(v)
		if e != nil && err == nil {
			err = e
		}
		return out
	}
	var w yamlWriter
	w.WriteString(`{{- /* ` + generatedNote + ` */ -}}

{{/* A duration with one unit (10m, 30m, 1h) in seconds, for thresholds compared with time(). */}}
{{- define "ipamwatch.rules.seconds" -}}
{{- if not (regexMatch "^[1-9][0-9]*(s|m|h|d)$" (toString .)) }}
{{- fail (printf "prometheusRule.thresholds: %q is not a duration with one unit such as 10m" (toString .)) }}
{{- end }}
{{- $n := regexFind "^[0-9]+" . | int64 }}
{{- mul $n (get (dict "s" 1 "m" 60 "h" 3600 "d" 86400) (trimPrefix (toString $n) .)) }}
{{- end }}

{{/*
The rule groups of the PrometheusRule from .Values.prometheusRule (values.yaml documents them).
dict: root (the chart's context), job (regular expression of the agent's scrape job).
*/}}
{{- define "ipamwatch.rules.groups" -}}
{{- $r := .root.Values.prometheusRule }}
{{- $t := $r.thresholds }}
{{- $cl := $r.clusterLabel }}
{{- $job := .job }}
{{- $url := $r.runbookUrl }}
{{- $off := $r.disabled | default dict }}
{{- $for := $r.for | default dict }}
{{- $extra := $r.additionalRuleLabels | default dict }}
{{- $alerts := list ` + strings.Join(names, " ") + ` }}
{{- range $k, $_ := merge (dict) $off $for }}
{{- if not (has $k $alerts) }}
{{- fail (printf "prometheusRule.disabled / prometheusRule.for: %s is not an ipamwatch alert" $k) }}
{{- end }}
{{- end }}
`)
	byGroup := map[string][]string{}
	for _, a := range c.Alerts {
		byGroup[a.Group] = append(byGroup[a.Group], fmt.Sprintf("(index $off %q)", a.Name))
	}
	for _, g := range groupOrder {
		var recs []Recording
		for _, r := range c.Recordings {
			if r.Group == g {
				recs = append(recs, r)
			}
		}
		var alerts []Alert
		for _, a := range c.Alerts {
			if a.Group == g {
				alerts = append(alerts, a)
			}
		}
		if len(recs)+len(alerts) == 0 {
			continue
		}
		if len(recs) == 0 {
			// Leave the group out when every alert of it is disabled.
			w.line(0, "{{- if not (and "+strings.Join(byGroup[g], " ")+") }}")
		}
		w.line(0, "- name: "+scalar(g))
		w.line(1, "rules:")
		for _, r := range recs {
			w.line(1, "- record: "+scalar(r.Record))
			w.kv(2, "expr", h(r.Expr))
		}
		for _, a := range alerts {
			w.line(0, fmt.Sprintf("{{- if not (index $off %q) }}", a.Name))
			w.line(1, "- alert: "+scalar(a.Name))
			w.kv(2, "expr", h(a.Expr))
			w.kv(2, "for", h(marker("for:"+a.Name+":"+a.For)))
			w.line(2, "labels:")
			w.kv(3, "severity", string(a.Severity))
			w.line(3, "{{- with $extra }}")
			w.line(3, "{{- toYaml . | nindent 6 }}")
			w.line(3, "{{- end }}")
			w.mapping(2, "annotations", map[string]string{
				"summary":     h(a.Summary),
				"description": h(a.Description),
				"runbook_url": h(marker("url") + a.Name + ".md"),
			})
			w.line(0, "{{- end }}")
		}
		if len(recs) == 0 {
			w.line(0, "{{- end }}")
		}
	}
	w.line(0, "{{- end }}")
	if err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}
