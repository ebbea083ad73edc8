package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/internal/metricsdoc"
)

// TestMetricsDocumented fails when docs/metrics.md and the exported metrics drift: every
// metric the agent registers has a row with the same type and labels, and every row names a
// metric the agent registers.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	docRows, err := metricsdoc.Read("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Kind, Labels string }
	documented := map[string]row{}
	for name, r := range docRows {
		documented[name] = row{Kind: r.Kind, Labels: r.Labels}
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
