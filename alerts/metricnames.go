package alerts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// KnownSet is what a query may name, read from the repository's metric documents.
type KnownSet struct {
	// Known: documented metrics (docs/metrics.md, docs/subnets.md), recording rules and `up`.
	Known map[string]bool
	// Pending: the cluster-level subnet series of Params.SubnetMetrics while docs/subnets.md
	// does not exist yet. Once it exists, Pending is empty and the file must document them.
	Pending map[string]bool
}

// KnownSeries reads docs/metrics.md (required) and docs/subnets.md (optional) under root.
func KnownSeries(root string, p Params) (KnownSet, error) {
	ks := KnownSet{Known: map[string]bool{"up": true}, Pending: map[string]bool{}}
	md, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		return ks, fmt.Errorf("reading the metrics contract: %w", err)
	}
	documented := DocumentedMetrics(md)
	if len(documented) < 10 {
		return ks, fmt.Errorf("docs/metrics.md documents only %d metrics: did its table format change?", len(documented))
	}
	for _, n := range documented {
		ks.Known[n] = true
	}
	sm, err := os.ReadFile(filepath.Join(root, "docs", "subnets.md"))
	switch {
	case err == nil:
		for _, n := range DocumentedMetrics(sm) {
			ks.Known[n] = true
		}
	case errors.Is(err, fs.ErrNotExist):
		sm := p.SubnetMetrics
		for _, n := range []string{sm.Size, sm.FreeAddresses, sm.FreePrefixBlocks, sm.FragmentationRatio, sm.LastSuccess, sm.Errors, sm.Leader} {
			ks.Pending[n] = true
		}
	default:
		return ks, fmt.Errorf("reading docs/subnets.md: %w", err)
	}
	for _, n := range Build(p).RecordingNames() {
		ks.Known[n] = true
	}
	return ks, nil
}
