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
	docRows, err := metricsdoc.Read("../docs/subnets.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Kind, Labels string }
	documented := map[string]row{}
	for name, r := range docRows {
		documented[name] = row{Kind: r.Kind, Labels: r.Labels}
	}
	kinds := map[prometheus.ValueType]string{prometheus.GaugeValue: "gauge", prometheus.CounterValue: "counter"}
	code := map[string]row{}
	for _, s := range allSpecs() {
		code[s.name] = row{Kind: kinds[s.typ], Labels: strings.Join(s.labels, ",")}
		if s.help == "" {
			t.Errorf("%s has no help text", s.name)
		}
		if (s.typ == prometheus.CounterValue) != strings.HasSuffix(s.name, "_total") {
			t.Errorf("%s: only counters end in _total", s.name)
		}
		if !strings.HasPrefix(s.name, "ipamwatch_subnet_") {
			t.Errorf("%s lacks the ipamwatch_subnet_ prefix", s.name)
		}
		// The node agent owns these names (docs/metrics.md).
		if s.name == "ipamwatch_subnet_cidr_addresses" || s.name == "ipamwatch_subnet_node_held_addresses" {
			t.Errorf("%s collides with a node agent metric", s.name)
		}
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/subnets.md drifted from the code (-code +docs):\n%s", diff)
	}

	// What a full poll emits must match the specs, labels included.
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
	for name, r := range code { // Gather sorts label names
		l := strings.Split(r.Labels, ",")
		if r.Labels == "" {
			l = nil
		}
		slices.Sort(l)
		code[name] = row{Kind: r.Kind, Labels: strings.Join(l, ",")}
	}
	if diff := cmp.Diff(code, emitted); diff != "" {
		t.Errorf("emitted metrics differ from the specs (-specs +emitted):\n%s", diff)
	}
}
