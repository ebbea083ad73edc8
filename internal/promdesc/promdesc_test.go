package promdesc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// listCollector is the smallest collector over a List, as the exporters write theirs.
type listCollector struct {
	l       *List
	a, b    *Desc
	samples func(a, b *Desc, ch chan<- prometheus.Metric)
}

func (c listCollector) Describe(ch chan<- *prometheus.Desc) { c.l.Describe(ch) }
func (c listCollector) Collect(ch chan<- prometheus.Metric) { c.samples(c.a, c.b, ch) }

func TestListCollects(t *testing.T) {
	t.Parallel()
	var l List
	labels := []string{"log", "class"}
	a := l.Counter("x_lines_total", "Lines read.", labels...)
	labels[0] = "changed" // the Desc keeps its own copy
	b := l.Gauge("x_up", "1 if up.")
	if got := []string{a.Kind(), b.Kind()}; !cmp.Equal(got, []string{"counter", "gauge"}) {
		t.Errorf("kinds = %v", got)
	}
	if diff := cmp.Diff([]string{"log", "class"}, a.Labels()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	a.Labels()[0] = "changed"
	if a.Labels()[0] != "log" {
		t.Error("Labels returned the Desc's own slice")
	}
	var names []string
	for _, d := range l.All() {
		names = append(names, d.Name())
	}
	if diff := cmp.Diff([]string{"x_lines_total", "x_up"}, names); diff != "" {
		t.Errorf("declaration order (-want +got):\n%s", diff)
	}

	c := listCollector{l: &l, a: a, b: b, samples: func(a, b *Desc, ch chan<- prometheus.Metric) {
		ch <- a.Metric(3, "ipamd", "subnet_exhausted")
		ch <- b.Metric(1)
	}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `# HELP x_lines_total Lines read.
# TYPE x_lines_total counter
x_lines_total{class="subnet_exhausted",log="ipamd"} 3
# HELP x_up 1 if up.
# TYPE x_up gauge
x_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestMetricPanicsOnWrongLabelCount(t *testing.T) {
	t.Parallel()
	var l List
	d := l.Gauge("x_info", "Facts.", "a", "b")
	defer func() {
		if recover() == nil {
			t.Error("one value for two labels did not panic")
		}
	}()
	_ = d.Metric(1, "only-one")
}
