package dashboards

import (
	"fmt"
	"regexp"
	"strings"
)

// ClusterLabel is the label the `cluster` variable reads and every query matches. The committed
// dashboards hide the variable: where no series carries the label it has no value but "All"
// (.*), which also matches series without the label, so single-cluster Prometheus servers see
// no difference. Set Options.ShowCluster (and the label, when it is not "cluster") for a
// Prometheus that holds several clusters, as the kube-prometheus-stack dashboards do.
const ClusterLabel = "cluster"

// Options shape the generated dashboards.
type Options struct {
	// ClusterLabel names the label that tells clusters apart ("" = ClusterLabel).
	ClusterLabel string
	// ShowCluster shows the cluster variable (hidden by default).
	ShowCluster bool
}

func (o Options) label() string {
	if o.ClusterLabel == "" {
		return ClusterLabel
	}
	return o.ClusterLabel
}

// clusterVariable is the dashboards' first query variable: which cluster to show.
func clusterVariable(o Options) Variable {
	q := fmt.Sprintf("label_values(ipamwatch_build_info, %s)", o.label())
	v := queryVariable("cluster", "Cluster", "Which cluster to show (label "+o.label()+"), for a Prometheus that holds several clusters", q, false)
	v.IncludeAll = true
	v.AllValue = ".*"
	v.Current = map[string]any{"selected": true, "text": "All", "value": "$__all"}
	if !o.ShowCluster {
		v.Hide = 2
	}
	return v
}

// seriesRE finds the series of ipamwatch and its recording rules in a query.
var seriesRE = regexp.MustCompile(`\b(?:[a-zA-Z_]+:)?ipamwatch_[a-zA-Z0-9_]+(?::[a-zA-Z0-9_]+)?`)

// withCluster adds the cluster matcher to every ipamwatch series of a query. Names inside
// double-quoted strings (label values) are not series.
func withCluster(expr string, o Options) string {
	m := fmt.Sprintf(`%s=~"$cluster"`, o.label())
	// Blank the quoted strings so that positions stay the same.
	blank := []byte(expr)
	in := false
	for i, c := range blank {
		switch {
		case c == '"' && (i == 0 || blank[i-1] != '\\'):
			in = !in
		case in:
			blank[i] = ' '
		}
	}
	var b strings.Builder
	last := 0
	for _, loc := range seriesRE.FindAllIndex(blank, -1) {
		end := loc[1]
		b.WriteString(expr[last:end])
		if end < len(expr) && expr[end] == '{' {
			b.WriteString("{" + m + ",")
			end++
		} else {
			b.WriteString("{" + m + "}")
		}
		last = end
	}
	b.WriteString(expr[last:])
	return b.String()
}
