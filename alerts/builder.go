package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ipamwatch/ipamwatch/logparse"
)

// builder writes the PromQL and annotation templates of the catalog for one Params. In Helm
// mode (ChartRules) it writes markers instead of the tunable parts (thresholds, `for`, the job,
// the cluster label, the runbook URL) that helmify turns into Helm template actions; with the
// chart's default values they render to exactly the text of plain mode, which a test checks.
type builder struct {
	p    Params
	helm bool
}

// scope is what one alert instance stands for: a node, a subnet or the whole cluster (the
// cluster label, when configured, is added to every scope).
type scope struct {
	name   string   // for docs: "node", "subnet", "cluster"
	labels []string // the alert's own labels besides the cluster label
}

var (
	perNode    = scope{"node", []string{"node"}}
	perSubnet  = scope{"subnet", []string{"subnet_id"}}
	perCluster = scope{"cluster", nil}
)

// Markers stand for Helm actions in Helm mode. They use Unicode private-use characters, which
// never occur in the catalog's text.
const (
	mOpen  = "\uE000"
	mClose = "\uE001"
)

func marker(name string) string { return mOpen + name + mClose }

// ifCluster returns a when a cluster label is configured, else b.
func (x builder) ifCluster(a, b string) string {
	if x.helm {
		return marker("if-cl") + a + marker("else") + b + marker("end")
	}
	if x.p.ClusterLabel != "" {
		return a
	}
	return b
}

// cl is the cluster label's name (only meaningful inside the a branch of ifCluster).
func (x builder) cl() string {
	if x.helm {
		return marker("cl")
	}
	return x.p.ClusterLabel
}

// by returns the grouping labels of a scope plus extra, cluster label first:
// "cluster, node" or "node".
func (x builder) by(sc scope, extra ...string) string {
	ls := append(append([]string{}, sc.labels...), extra...)
	if len(ls) == 0 {
		return x.ifCluster(x.cl(), "")
	}
	return x.ifCluster(x.cl()+", ", "") + strings.Join(ls, ", ")
}

// agg writes op by (scope labels) (inner), or op(inner) when there is nothing to group by.
func (x builder) agg(op string, sc scope, inner string, extra ...string) string {
	if len(sc.labels)+len(extra) == 0 {
		return x.ifCluster(fmt.Sprintf("%s by (%s) (%s)", op, x.cl(), inner), fmt.Sprintf("%s(%s)", op, inner))
	}
	return fmt.Sprintf("%s by (%s) (%s)", op, x.by(sc, extra...), inner)
}

// s writes a selector of metric with the matchers and Params.Selector (plain mode only: the
// chart has no extra selector, it tells clusters apart by the cluster label).
func (x builder) s(metric string, matchers ...string) string {
	if x.p.Selector != "" && !x.helm {
		matchers = append(matchers, x.p.Selector)
	}
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ",") + "}"
}

// classIn is the matcher of log events of any of the classes: class=~"a|b". The names come
// from logparse, which owns them.
func classIn(cs ...logparse.Class) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return `class=~"` + strings.Join(names, "|") + `"`
}

// classIs is the matcher of log events of one class: class="a".
func classIs(c logparse.Class) string { return fmt.Sprintf("class=%q", c) }

// sq writes a selector for an annotation query keyed on the alert's scope: like s, plus
// label=%q for the scope's labels (and the cluster label) so that printf inserts the alert's
// values. args(sc) gives the matching printf arguments.
func (x builder) sq(sc scope, metric string, matchers ...string) string {
	keyed := append([]string{}, matchers...)
	for _, l := range sc.labels {
		keyed = append(keyed, l+"=%q")
	}
	if x.p.Selector != "" && !x.helm {
		keyed = append(keyed, x.p.Selector)
	}
	if len(keyed) == 0 {
		return x.ifCluster(metric+"{"+x.cl()+"=%q}", metric)
	}
	return metric + "{" + x.ifCluster(x.cl()+"=%q,", "") + strings.Join(keyed, ",") + "}"
}

// args returns the printf arguments for a query written with sq, each after a space:
// " $labels.cluster $labels.node".
func (x builder) args(sc scope) string {
	var f []string
	for _, l := range sc.labels {
		f = append(f, " $labels."+l)
	}
	return x.ifCluster(" $labels."+x.cl(), "") + strings.Join(f, "")
}

// query writes the template pipeline that runs a query written with sq.
func (x builder) query(sc scope, q string) string {
	return fmt.Sprintf("printf %#q%s | query", q, x.args(sc))
}

// The template snippets below run a PromQL query from an alert's annotation, with the alert's
// labels filled in, and print one number or label of the first result. The query text is a raw
// string (backquotes) so that PromQL's double quotes need no escaping.

// count prints the query's first value as an integer, or def when the query returns nothing.
func (x builder) count(sc scope, q, def string) string {
	return fmt.Sprintf("{{ with %s }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}%s{{ end }}", x.query(sc, q), def)
}

// pct prints the query's first value as a percentage.
func (x builder) pct(sc scope, q, def string) string {
	return fmt.Sprintf("{{ with %s }}{{ . | first | value | humanizePercentage }}{{ else }}%s{{ end }}", x.query(sc, q), def)
}

// lbl prints a label of the query's first result.
func (x builder) lbl(sc scope, q, name, def string) string {
	return fmt.Sprintf("{{ with %s }}{{ . | first | label %q }}{{ else }}%s{{ end }}", x.query(sc, q), name, def)
}

// age prints how long ago the Unix time the query returns was.
func (x builder) age(sc scope, q, def string) string {
	return fmt.Sprintf("{{ with %s }}{{ . | first | value | humanizeDuration }} ago{{ else }}%s{{ end }}", x.query(sc, "time() - ("+q+")"), def)
}

// maxListed is how many node names a description lists.
const maxListed = 10

// nodes prints the node labels of the query's results, sorted, at most maxListed of them.
func (x builder) nodes(sc scope, q string) string {
	return fmt.Sprintf(`{{ with %s | sortByLabel "node" }}{{ range $i, $s := . }}{{ if lt $i %d }}{{ if $i }}, {{ end }}{{ $s.Labels.node }}{{ end }}{{ end }}{{ if gt (len .) %d }} (the first %d of {{ len . }}){{ end }}{{ else }}none{{ end }}`,
		x.query(sc, q), maxListed, maxListed, maxListed)
}

// t writes a threshold as the rules compare with it.
func (x builder) t(key string) string {
	if x.helm {
		return marker("t:" + key)
	}
	return tunableByKey(key).get(x.p.Thresholds)
}

// seconds writes a duration threshold in seconds (for comparisons with time()).
func (x builder) seconds(key string) string {
	if x.helm {
		return marker("sec:" + key)
	}
	return fmt.Sprint(durationSeconds(tunableByKey(key).get(x.p.Thresholds)))
}

// times writes n times a count threshold.
func (x builder) times(n int, key string) string {
	if x.helm {
		return marker(fmt.Sprintf("mul:%d:%s", n, key))
	}
	v := tunableByKey(key).get(x.p.Thresholds)
	var i int
	if _, err := fmt.Sscan(v, &i); err != nil {
		panic(fmt.Sprintf("alerts: threshold %s=%q is not a count", key, v))
	}
	return fmt.Sprint(n * i)
}

// job writes the regular expression of the agent's scrape job.
func (x builder) job() string {
	if x.helm {
		return marker("job")
	}
	return x.p.Job
}

// durationSeconds converts a Prometheus duration (validated) to seconds.
func durationSeconds(d string) int64 {
	v, err := model.ParseDuration(d)
	if err != nil {
		panic(fmt.Sprintf("alerts: duration %q passed validation but does not parse: %v", d, err))
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

// withinCluster restricts an annotation query to the alert's cluster (printf argument
// $labels.<cluster label>) when a cluster label is configured; q must keep the cluster label.
func (x builder) withinCluster(q string) string {
	return x.ifCluster(fmt.Sprintf("(%s) and on (%s) max by (%s) (%s)", q, x.cl(), x.cl(), x.sq(perCluster, "ipamwatch_build_info")), q)
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// oneLine joins a multi-line expression into one line (for annotation queries).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("( ", "(", " )", ")").Replace(s)
}

// nodeCount prints an aggregated alert's value as a number of nodes.
const nodeCount = `{{ $value }} node{{ if ne $value 1.0 }}s{{ end }}`
