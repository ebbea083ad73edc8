package agent

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMetricsDocumented fails when docs/metrics.md and the exported metrics drift: every
// metric the agent registers has a row with the same type and labels, and every row names a
// metric the agent registers.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "<!-- BEGIN METRICS TABLE")
	end := strings.Index(doc, "<!-- END METRICS TABLE -->")
	if start < 0 || end < start {
		t.Fatal("docs/metrics.md lacks the BEGIN/END METRICS TABLE markers")
	}
	type row struct {
		Kind   string
		Labels string
	}
	documented := map[string]row{}
	tick := regexp.MustCompile("`([^`]+)`")
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
		if _, dup := documented[name]; dup {
			t.Errorf("docs/metrics.md documents %s twice", name)
		}
		documented[name] = row{Kind: strings.TrimSpace(cells[2]), Labels: strings.Join(labels, ",")}
	}
	code := map[string]row{}
	for _, d := range metricDefs() {
		code[d.name] = row{Kind: d.kind, Labels: strings.Join(d.labels, ",")}
		if d.help == "" {
			t.Errorf("%s has no help text", d.name)
		}
		if d.kind == "counter" && !strings.HasSuffix(d.name, "_total") {
			t.Errorf("counter %s must end in _total", d.name)
		}
		if d.kind != "counter" && strings.HasSuffix(d.name, "_total") {
			t.Errorf("non-counter %s must not end in _total", d.name)
		}
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/metrics.md drifted from the code (-code +docs):\n%s", diff)
	}
}
