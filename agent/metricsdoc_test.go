package agent

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/ipamwatch/ipamwatch/internal/metricsdoc"
)

// TestMetricsDocumented fails when docs/metrics.md and the exported metrics drift: every
// metric the agent declares has a row with the same type and labels, and every row names a
// metric the agent exports.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	// ipamwatch_build_info comes from client_golang's version collector: its row is checked
	// against what that collector really exports.
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("ipamwatch"))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("build info: %v %v", mfs, err)
	}
	var labels []string
	for _, lp := range mfs[0].GetMetric()[0].GetLabel() {
		labels = append(labels, lp.GetName())
	}
	buildInfo := map[string]metricsdoc.Row{
		mfs[0].GetName(): {Kind: strings.ToLower(mfs[0].GetType().String()), Labels: strings.Join(labels, ",")},
	}
	problems, err := metricsdoc.Check("../docs/metrics.md", newMetrics().list.All(), buildInfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
