package subnets

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipamwatch/ipamwatch/internal/metricsdoc"
)

// TestMetricsDocumented fails when docs/subnets.md and the exported metrics drift: every
// metric has a row with the same type and labels, every row names an exported metric, and
// a full poll really emits each of them with those labels.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	descs := newMetrics().list.All()
	problems, err := metricsdoc.Check("../docs/subnets.md", descs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	type row struct{ Kind, Labels string }
	code := map[string]row{}
	for _, d := range descs {
		if !strings.HasPrefix(d.Name(), "ipamwatch_subnet_") {
			t.Errorf("%s lacks the ipamwatch_subnet_ prefix", d.Name())
		}
		// The node agent owns these names (docs/metrics.md).
		if d.Name() == "ipamwatch_subnet_cidr_addresses" || d.Name() == "ipamwatch_subnet_node_held_addresses" {
			t.Errorf("%s collides with a node agent metric", d.Name())
		}
		// Gather sorts label names.
		labels := d.Labels()
		slices.Sort(labels)
		code[d.Name()] = row{Kind: d.Kind(), Labels: strings.Join(labels, ",")}
	}

	// What a full poll emits must match the declarations, labels included.
	p := newTestPoller(newMemEC2())
	p.SetLeader(true)
	if err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(p))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	emitted := map[string]row{}
	for _, mf := range mfs {
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		emitted[mf.GetName()] = row{Kind: strings.ToLower(mf.GetType().String()), Labels: strings.Join(labels, ",")}
	}
	if diff := cmp.Diff(code, emitted); diff != "" {
		t.Errorf("emitted metrics differ from the declared ones (-declared +emitted):\n%s", diff)
	}
}
