// Package promdesc is how every exporter in the repository declares its metrics. A Desc is
// one metric: its name, help, label names and value type, and the Prometheus descriptor
// built from them. A List holds an exporter's Descs in the order they were declared; the
// collector keeps each Desc in a field and sends samples through it (no lookup by name at
// collect time), and the docs drift test (internal/metricsdoc) walks the List.
package promdesc

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Desc is one metric with its value type.
type Desc struct {
	name, help string
	labels     []string
	typ        prometheus.ValueType
	desc       *prometheus.Desc
}

func newDesc(name, help string, typ prometheus.ValueType, labels []string) *Desc {
	labels = slices.Clone(labels)
	return &Desc{name: name, help: help, labels: labels, typ: typ, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// Name is the metric's name.
func (d *Desc) Name() string { return d.name }

// Help is the metric's HELP text.
func (d *Desc) Help() string { return d.help }

// Labels returns the label names, in the order Metric takes their values.
func (d *Desc) Labels() []string { return slices.Clone(d.labels) }

// Type is the metric's value type.
func (d *Desc) Type() prometheus.ValueType { return d.typ }

// Kind is the type as the docs tables spell it: "counter" or "gauge".
func (d *Desc) Kind() string {
	if d.typ == prometheus.CounterValue {
		return "counter"
	}
	return "gauge"
}

// Metric is one sample of d. It panics when the label values do not match the label names
// in number: a programming error, caught by each exporter's golden tests.
func (d *Desc) Metric(v float64, labelValues ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d.desc, d.typ, v, labelValues...)
}

// List is one exporter's metrics, in declaration order. The zero value is empty and ready.
type List struct {
	descs []*Desc
}

// Gauge declares a gauge and adds it to l.
func (l *List) Gauge(name, help string, labels ...string) *Desc {
	return l.add(newDesc(name, help, prometheus.GaugeValue, labels))
}

// Counter declares a counter and adds it to l.
func (l *List) Counter(name, help string, labels ...string) *Desc {
	return l.add(newDesc(name, help, prometheus.CounterValue, labels))
}

func (l *List) add(d *Desc) *Desc {
	l.descs = append(l.descs, d)
	return d
}

// All returns l's metrics in declaration order.
func (l *List) All() []*Desc { return slices.Clone(l.descs) }

// Describe sends every descriptor of l: a collector's Describe.
func (l *List) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range l.descs {
		ch <- d.desc
	}
}
