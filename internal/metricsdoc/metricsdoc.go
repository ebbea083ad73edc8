// Package metricsdoc reads the metric tables of the docs (docs/metrics.md, docs/subnets.md):
// the rows between the BEGIN/END METRICS TABLE markers, `| name | type | labels | help |`.
// The drift tests of the agent and of the subnet exporter compare them with the code.
package metricsdoc

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
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
