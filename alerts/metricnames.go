package alerts

import (
	"bufio"
	"bytes"
	"regexp"
	"sort"
	"strings"
)

var (
	// Series names ipamwatch owns or reads: the agent's and the CNI's.
	seriesNameRE = regexp.MustCompile(`\b(?:ipamwatch|awscni)_[a-zA-Z0-9_]+`)
	// Prometheus' own per-target series, always with a selector in our rules.
	upRE = regexp.MustCompile(`(^|[^a-zA-Z0-9_:])up\{`)
	// Recording-rule names follow level:metric:operations.
	recordingNameRE = regexp.MustCompile(`\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+\b`)
	// A backquoted query inside an annotation template.
	templateQueryRE = regexp.MustCompile("`([^`]*)`")
	// A metrics table row: | `name` | type | ...
	docRowRE = regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|")
)

// MetricNames returns the series names a PromQL expression (or a query template) references:
// identifiers of ipamwatch_/awscni_ series and recording-rule names, sorted and unique. It is a
// careful scan, not a parser: label values are skipped because they are quoted and never start
// with these prefixes in our rules (tests feed it every rule and dashboard query).
func MetricNames(promql string) []string {
	seen := map[string]bool{}
	s := stripStrings(promql)
	for _, n := range recordingNameRE.FindAllString(s, -1) {
		seen[n] = true
	}
	s = recordingNameRE.ReplaceAllString(s, " ")
	for _, n := range seriesNameRE.FindAllString(s, -1) {
		seen[n] = true
	}
	if upRE.MatchString(s) {
		seen["up"] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// stripStrings blanks double-quoted string literals (label values, regexes) so that their
// contents are never mistaken for series names.
func stripStrings(s string) string {
	var b strings.Builder
	in, esc := false, false
	for _, r := range s {
		switch {
		case in && esc:
			esc = false
			r = ' '
		case in && r == '\\':
			esc = true
			r = ' '
		case r == '"':
			in = !in
		case in:
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TemplateQueries returns the PromQL queries inside an annotation template (the backquoted
// arguments of printf/query).
func TemplateQueries(tmpl string) []string {
	var out []string
	for _, m := range templateQueryRE.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

// DocumentedMetrics returns the metric names of the Markdown tables in a metrics document:
// every row whose first cell is a backquoted metric name.
func DocumentedMetrics(markdown []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(markdown))
	for sc.Scan() {
		if m := docRowRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}
