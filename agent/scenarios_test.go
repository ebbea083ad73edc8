package agent_test

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeClock is a settable clock shared by the simulated node and the agent.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// runScenario simulates spec for the given number of seconds on a fake clock and runs one
// agent round against it over real HTTP and real log files.
func runScenario(t *testing.T, spec demo.Spec, seconds int) *agent.Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clock := &fakeClock{t: time.Date(2026, 11, 26, 2, 14, 0, 0, time.UTC)}
	node, err := demo.Start(ctx, spec, t.TempDir(), demo.Options{Manual: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	for i := 0; i < seconds; i++ {
		clock.Add(time.Second)
		node.Step(ctx, clock.Now())
	}
	cfg := node.AgentConfig()
	cfg.LogBackfill = 256 << 20
	cfg.SourceTimeout = 10 * time.Second
	cfg.Now = clock.Now
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.RunOnce(ctx)
	return a
}

func causes(r diagnosis.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Cause))
	}
	return out
}

// exposition is the text exposition of every ipamwatch metric except the poll durations
// (wall-clock dependent) and the build info.
func exposition(t *testing.T, a *agent.Agent) []byte {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		n := mf.GetName()
		if strings.HasPrefix(n, "ipamwatch_") && n != "ipamwatch_source_poll_duration_seconds" && n != "ipamwatch_build_info" {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.Bytes()
}

func TestScenarios(t *testing.T) {
	for _, spec := range demo.Scenarios() {
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			a := runScenario(t, spec, 90)
			rep, st := a.Report()
			for name, s := range st.Sources {
				if !s.Up {
					t.Errorf("source %s down against the demo node: %s", name, s.Err)
				}
			}
			got := causes(rep)
			for _, want := range spec.Expect {
				if !slices.Contains(got, want) {
					t.Errorf("finding %s missing; got %v", want, got)
				}
			}
			if spec.Name == "prefix-fragmented" {
				found := false
				for _, f := range rep.Findings {
					found = found || (f.Cause == "prefix_fragmented" && strings.Contains(strings.Join(f.Evidence, "\n"), "fragmentation confirmed by the subnet analysis"))
				}
				if !found {
					t.Errorf("the subnet analysis did not confirm fragmentation: %+v", rep.Findings)
				}
			}
			if spec.Name == "healthy" {
				for _, f := range rep.Findings {
					if f.Severity == "critical" || f.Severity == "warning" {
						t.Errorf("healthy node has a %s finding: %s: %s", f.Severity, f.Cause, f.Summary)
					}
				}
				if rep.BindingCeiling != "none" && rep.BindingCeiling != "max_pods" {
					t.Errorf("healthy node binding ceiling = %s", rep.BindingCeiling)
				}
			}

			// Golden exposition (every ipamwatch metric but wall-clock durations).
			testtools.Golden(t, filepath.Join("testdata", "scenarios", spec.Name+".prom"), exposition(t, a), *update)

			// Lint: client_golang's linter, and promtool's when installed.
			problems, err := testutil.GatherAndLint(a.Registry())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				if strings.HasPrefix(p.Metric, "ipamwatch_") {
					t.Errorf("lint %s: %s", p.Metric, p.Text)
				}
			}
			series := countSeries(t, a)
			if series > 300 {
				t.Errorf("%d ipamwatch series, budget 300", series)
			}
			t.Logf("scenario %s: %d ipamwatch series; findings %v; binding %s", spec.Name, series, got, rep.BindingCeiling)
		})
	}
}

func countSeries(t *testing.T, a *agent.Agent) int {
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "ipamwatch_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

// TestPromtoolCheckMetrics runs Prometheus' own linter over a full exposition.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testtools.Lookup(t, "promtool")
	spec, err := demo.Lookup("large")
	if err != nil {
		t.Fatal(err)
	}
	a := runScenario(t, spec, 60)
	var buf bytes.Buffer
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
