package trace

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
)

func small(shape Shape) Spec {
	return Spec{
		Name: "t-" + string(shape), Shape: shape, Duration: 3 * time.Hour, Seed: 11,
		SubnetID: "subnet-t", CIDRSize: 1024, OtherUsed: 50,
		Limits: forecast.Limits{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, MaxPods: 29}, Settings: forecast.DefaultSettings(),
		Nodes: 5, Pods: 80, PodsPerNode: 20, GrowthPerHour: 40, BurstPods: 30, BurstEvery: time.Hour,
		Wobble: 10, ChurnPerHour: 0.3, RecycleEvery: 30 * time.Minute,
	}
}

// TestShapes: each shape does what its name says, and the same seed gives the same trace.
func TestShapes(t *testing.T) {
	t.Parallel()
	for _, shape := range []Shape{Linear, Bursty, Churn, Recycle, Large} {
		t.Run(string(shape), func(t *testing.T) {
			t.Parallel()
			spec := small(shape)
			if shape == Large {
				spec.Limits = forecast.Limits{InstanceType: "c5n.18xlarge", ENIs: 15, IPv4PerENI: 50, MaxPods: 737}
				spec.CIDRSize, spec.Nodes, spec.Pods, spec.PodsPerNode = 4096, 2, 480, 737
			}
			tr, err := Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := At(tr.Used, 0)
			last, _ := At(tr.Used, spec.Duration)
			nodes0, _ := At(tr.Nodes, 0)
			nodes1, _ := At(tr.Nodes, spec.Duration)
			switch shape {
			case Linear:
				// 120 pods more on 20-pod nodes: six nodes of 30 addresses.
				if last-first < 150 || nodes1-nodes0 < 5 {
					t.Errorf("linear: use %v -> %v, nodes %v -> %v", first, last, nodes0, nodes1)
				}
			case Churn, Recycle, Large:
				if d := last - first; d > 40 || d < -40 {
					t.Errorf("%s: use moved from %v to %v", shape, first, last)
				}
			}
			if shape == Recycle && len(tr.Series) <= len(mustGenerate(t, small(Churn)).Series) {
				t.Error("recycled nodes should leave more node series than the same cluster without recycling")
			}
			again := mustGenerate(t, spec)
			var a, b bytes.Buffer
			if err := WriteOpenMetrics(&a, time.Unix(1e9, 0), tr); err != nil {
				t.Fatal(err)
			}
			if err := WriteOpenMetrics(&b, time.Unix(1e9, 0), again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("the same spec gave two different traces")
			}
		})
	}
}

func mustGenerate(t *testing.T, s Spec) *Trace {
	t.Helper()
	tr, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestWriters(t *testing.T) {
	t.Parallel()
	tr := &Trace{Spec: Spec{Duration: 9 * time.Minute}, Series: []*Series{{
		Name: "ipamwatch_pods", Labels: []Label{{"network", "pod"}, {"node", "n1"}},
		Samples: []Sample{{0, 3}, {time.Minute, 3}, {2 * time.Minute, 3}, {5 * time.Minute, 4}, {6 * time.Minute, 5}},
	}}}
	var in bytes.Buffer
	if err := tr.WritePromtoolSeries(&in, ""); err != nil {
		t.Fatal(err)
	}
	want := "- series: 'ipamwatch_pods{network=\"pod\",node=\"n1\"}'\n  values: '3x2 _x2 4 5'\n"
	if in.String() != want {
		t.Errorf("promtool series:\n%s\nwant:\n%s", in.String(), want)
	}
	var om bytes.Buffer
	if err := WriteOpenMetrics(&om, time.Unix(1700000000, 0), tr); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"# TYPE ipamwatch_pods gauge", `ipamwatch_pods{network="pod",node="n1"} 5 1700000360.000`, "# EOF"} {
		if !strings.Contains(om.String(), line+"\n") {
			t.Errorf("OpenMetrics lacks %q:\n%s", line, om.String())
		}
	}
	if err := WriteOpenMetrics(&om, time.Unix(0, 0), tr, tr); err == nil {
		t.Error("two traces with the same series must be refused")
	}
}

func TestSpecValidation(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*Spec){
		"no duration":      func(s *Spec) { s.Duration = 0 },
		"bursty no bursts": func(s *Spec) { s.Shape, s.BurstEvery = Bursty, 0 },
		"recycle no every": func(s *Spec) { s.Shape, s.RecycleEvery = Recycle, 0 },
		"unknown shape":    func(s *Spec) { s.Shape = "sawtooth" },
		"bad limits":       func(s *Spec) { s.Limits.ENIs = 0 },
		"no room":          func(s *Spec) { s.CIDRSize, s.OtherUsed = 16, 11 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := small(Linear)
			mod(&s)
			if _, err := Generate(s); err == nil {
				t.Error("want an error")
			}
		})
	}
}
