package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

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
	// ipamwatch_build_info comes from client_golang's version collector: its row is checked
	// against what that collector really exports.
	mfs, err := newBuildInfoRegistry().Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("build info: %v %v", mfs, err)
	}
	var labels []string
	for _, lp := range mfs[0].GetMetric()[0].GetLabel() {
		labels = append(labels, lp.GetName())
	}
	code[mfs[0].GetName()] = row{Kind: strings.ToLower(mfs[0].GetType().String()), Labels: strings.Join(labels, ",")}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/metrics.md drifted from the code (-code +docs):\n%s", diff)
	}
}

func newBuildInfoRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("ipamwatch"))
	return reg
}
