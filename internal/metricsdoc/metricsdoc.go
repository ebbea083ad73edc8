// Package metricsdoc reads the metric tables of the docs (docs/metrics.md, docs/subnets.md):
// the rows between the BEGIN/END METRICS TABLE markers, `| name | type | labels | help |`.
// Check compares such a table with an exporter's declared metrics (internal/promdesc); the
// drift tests of the agent and of the subnet exporter call it.
package metricsdoc

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/internal/promdesc"
)

// Row is one documented metric.
type Row struct {
	Kind   string // gauge | counter
	Labels string // comma-separated, in table order
	Help   string
}

var tick = regexp.MustCompile("`([^`]+)`")

// ErrNoTable means the file lacks the markers.
var ErrNoTable = errors.New("no BEGIN/END METRICS TABLE markers")

// Read parses the metrics table of the Markdown file at path, keyed by metric name. A
// metric documented twice is an error.
func Read(path string) (map[string]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc := string(b)
	start := strings.Index(doc, "<!-- BEGIN METRICS TABLE")
	end := strings.Index(doc, "<!-- END METRICS TABLE -->")
	if start < 0 || end < start {
		return nil, fmt.Errorf("%s: %w", path, ErrNoTable)
	}
	rows := map[string]Row{}
	for _, line := range strings.Split(doc[start:end], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.Contains(cells[1], "`ipamwatch_") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var labels []string
		for _, m := range tick.FindAllStringSubmatch(cells[3], -1) {
			labels = append(labels, m[1])
		}
		if _, dup := rows[name]; dup {
			return nil, fmt.Errorf("%s documents %s twice", path, name)
		}
		rows[name] = Row{Kind: strings.TrimSpace(cells[2]), Labels: strings.Join(labels, ","), Help: strings.TrimSpace(strings.Join(cells[4:len(cells)-1], "|"))}
	}
	return rows, nil
}

// Check compares the metrics table of the Markdown file at path with descs, plus extra rows
// for metrics that another collector exports beside them (client_golang's build info), and
// applies the naming rules every exporter follows: a help text, `_total` on counters only.
// It returns one message per problem; the table and the code must name the same metrics
// with the same type and labels (help texts may differ: the docs say more).
func Check(path string, descs []*promdesc.Desc, extra map[string]Row) ([]string, error) {
	docRows, err := Read(path)
	if err != nil {
		return nil, err
	}
	type row struct{ Kind, Labels string }
	documented := map[string]row{}
	for name, r := range docRows {
		documented[name] = row{r.Kind, r.Labels}
	}
	var problems []string
	code := map[string]row{}
	for _, d := range descs {
		name := d.Name()
		code[name] = row{d.Kind(), strings.Join(d.Labels(), ",")}
		if d.Help() == "" {
			problems = append(problems, name+" has no help text")
		}
		if counter := d.Kind() == "counter"; counter != strings.HasSuffix(name, "_total") {
			problems = append(problems, name+": only counters end in _total")
		}
	}
	for name, r := range extra {
		code[name] = row{r.Kind, r.Labels}
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		problems = append(problems, fmt.Sprintf("%s drifted from the code (-code +docs):\n%s", path, diff))
	}
	return problems, nil
}
