package main

import (
	"context"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestAccuracy is issue 18's acceptance, measured in a real Prometheus: with the shipped
// window the predicted one-hour increase on linear growth is within 20% (mean and 90th
// percentile), the shipped alert fires before each linear trace runs out and never on the
// flat traces (churn, recycled nodes, the demo's large shape).
func TestAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("generates six 20-hour traces and runs Prometheus")
	}
	cfg := config{
		promtool:   testtools.Lookup(t, "promtool"),
		prometheus: testtools.Lookup(t, "prometheus"),
		addr:       "127.0.0.1:0",
		horizon:    time.Hour,
		params:     alerts.DefaultParams(),
		windows:    []time.Duration{dur(alerts.DefaultParams().ForecastWindow)},
		methods:    []int{0, 1},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rules, results, err := measure(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		t.Logf("%s, %s over %s: %d points, MAPE %.1f%%, p90 %.1f%%", r.Trace, r.Method, r.Window, r.Points, 100*r.MAPE, 100*r.P90)
		if r.Trace == "linear" || r.Trace == "linear-prefix" {
			if r.Points < 50 || r.MAPE > 0.20 || r.P90 > 0.20 {
				t.Errorf("%s, %s: %d points, MAPE %.1f%%, p90 %.1f%%: want at least 50 points within 20%%", r.Trace, r.Method, r.Points, 100*r.MAPE, 100*r.P90)
			}
		}
	}
	for _, r := range rules {
		t.Logf("%s: ran out after %s, shortest time to exhaustion %s, %d firings, first %s before", r.Trace, r.Exhausted, r.MinTTE, r.Episodes, r.Lead)
		switch r.Trace {
		case "linear", "linear-prefix":
			if r.Lead < time.Hour {
				t.Errorf("%s: the alert fired %s before the subnet ran out, want at least an hour", r.Trace, r.Lead)
			}
		case "churn", "recycle", "large":
			if within := dur(cfg.params.RunsOutWithin); r.Episodes != 0 || r.MinTTE < within {
				t.Errorf("%s: %d firings, shortest time to exhaustion %s: want none, and never below %s", r.Trace, r.Episodes, r.MinTTE, within)
			}
		}
	}
}

func TestLayers(t *testing.T) {
	t.Parallel()
	rules := forecastRecordings(alerts.Build(alerts.DefaultParams()))
	ls, err := layers(rules)
	if err != nil {
		t.Fatal(err)
	}
	seen, n := map[string]bool{}, 0
	for i, layer := range ls {
		for _, r := range layer {
			for _, o := range rules {
				if o.Record != r.Record && containsRecord(r.Expr, o.Record) && !seen[o.Record] {
					t.Errorf("layer %d: %s reads %s, which is not loaded yet", i, r.Record, o.Record)
				}
			}
		}
		for _, r := range layer {
			seen[r.Record] = true
			n++
		}
	}
	if n != len(rules) {
		t.Errorf("%d rules in the layers, want %d", n, len(rules))
	}
	for _, name := range []string{alerts.RecordExhaustion, alerts.RecordFix, alerts.RecordHeadroomPods, alerts.RecordHeld} {
		if !seen[name] {
			t.Errorf("%s is not backfilled", name)
		}
	}
	if len(ls) < 3 {
		t.Errorf("%d layers: the rules chain at least three deep", len(ls))
	}
}
