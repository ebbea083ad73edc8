package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// TestSubnetHoursLeft runs the demo's subnet-hours-left scenario with the agent polling as it
// goes: the cluster view's polls give the subnet's trend, so /diagnosis says when the subnet
// runs out, and the what-if compares the node's warm settings with the CNI docs' advice.
func TestSubnetHoursLeft(t *testing.T) {
	t.Parallel()
	spec, err := demo.Lookup("subnet-hours-left")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clock := &fakeClock{t: time.Date(2026, 11, 26, 2, 14, 0, 0, time.UTC)}
	node, err := demo.Start(ctx, spec, t.TempDir(), demo.Options{Manual: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	cfg := node.AgentConfig()
	cfg.SourceTimeout, cfg.Now = 10*time.Second, clock.Now
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 40 demo seconds of pods settling, then the agent polls every 5 s for a minute (an hour of
	// the cluster view, which runs 60 times faster in this scenario).
	for range 40 {
		clock.Add(time.Second)
		node.Step(ctx, clock.Now())
	}
	var rep diagnosis.Report
	for range 12 {
		for range 5 {
			clock.Add(time.Second)
			node.Step(ctx, clock.Now())
		}
		a.RunOnce(ctx)
		rep, _ = a.Report()
	}
	if rep.Forecast == nil || rep.Forecast.Subnet == nil {
		t.Fatalf("no subnet outlook: %+v", rep.Forecast)
	}
	o := rep.Forecast.Subnet
	left := time.Duration(o.RunsOutInSeconds * float64(time.Second))
	// Others take 50 addresses an hour; the node's own pool is settled before the polls.
	if o.TrendPolls < 10 || o.PerHour < 45 || o.PerHour > 55 || left < time.Hour || left > 4*time.Hour {
		t.Errorf("trend: %d polls, %.1f an hour, runs out in %s", o.TrendPolls, o.PerHour, left)
	}
	if !strings.Contains(o.Sentence, "with WARM_IP_TARGET=2, MINIMUM_IP_TARGET=14 it takes") {
		t.Errorf("what-if: %q", o.Sentence)
	}
	var text strings.Builder
	if err := diagnosis.WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "polls of the cluster view): runs out in ") {
		t.Errorf("text report:\n%s", text.String())
	}
}
