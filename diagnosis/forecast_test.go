package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// TestForecastOutlook: the report always carries what one more node like this one claims; the
// subnet what-if appears only while the subnet is low, on the exact basis when the cluster
// view knows the subnet.
func TestForecastOutlook(t *testing.T) {
	t.Parallel()
	withView := func(size, free, blocks int) *nodestate.State {
		st := healthySecondary()
		st.Subnets = map[string]nodestate.SubnetView{"subnet-node": {SubnetID: "subnet-node", Size: size, FreeAddresses: free, FreePrefixBlocks: blocks}}
		return st
	}
	tests := []struct {
		name      string
		st        *nodestate.State
		low       bool
		basis     forecast.Basis
		nodes     int
		sentences []string
	}{
		{"no cluster view, no refusal: claims only", healthySecondary(), false, "", 0, nil},
		{"plenty free", withView(4096, 3000, 150), false, "", 0, nil},
		// 100 of 1019 usable free; the healthy node holds 30 (WARM_ENI_TARGET=1 at 10 pods):
		// 3 more nodes like it, 7 with WARM_IP_TARGET=2 and MINIMUM_IP_TARGET=12 (14 each).
		{"below a fifth", withView(1024, 100, 6), true, forecast.BasisExact, 3,
			[]string{"3 more m5.large nodes at 10 pods each (30 pods), 30 addresses per node with WARM_ENI_TARGET=1", "it takes 8 more instead of 3"}},
		// Enough addresses in the share, but room for fewer than 10 nodes of 30.
		{"few nodes left", withView(1024, 250, 15), true, forecast.BasisExact, 8, []string{"8 more m5.large nodes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Diagnose(tc.st, Options{Now: tc.st.Time})
			if r.Forecast == nil || len(r.Forecast.Claims) < 2 {
				t.Fatalf("forecast %+v: want the current claim and the docs' advice", r.Forecast)
			}
			if got := r.Forecast.Claims[0]; got.Scenario != forecast.ScenarioCurrent || got.Subnets[0].Addresses != 30 {
				t.Errorf("current claim %+v, want 30 addresses in subnet-node", got)
			}
			o := r.Forecast.Subnet
			if (o != nil) != tc.low {
				t.Fatalf("subnet outlook %+v, want low=%v", o, tc.low)
			}
			if o == nil {
				return
			}
			if o.Space.Basis != tc.basis || o.Headroom.Current.Nodes != tc.nodes {
				t.Errorf("basis %s, %d nodes; want %s, %d", o.Space.Basis, o.Headroom.Current.Nodes, tc.basis, tc.nodes)
			}
			for _, s := range tc.sentences {
				if !strings.Contains(o.Sentence, s) {
					t.Errorf("sentence %q lacks %q", o.Sentence, s)
				}
			}
			var text strings.Builder
			if err := WriteText(&text, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "SUBNET subnet-node IS LOW") {
				t.Errorf("the text report lacks the low subnet:\n%s", text.String())
			}
		})
	}
}

// TestForecastUnknownInputs: without the numbers the claim needs there is no forecast rather
// than a made-up one.
func TestForecastUnknownInputs(t *testing.T) {
	t.Parallel()
	st := healthySecondary()
	st.CNI = nil
	st.IPAMD = nil
	r := Diagnose(st, Options{Now: st.Time})
	if r.Capacity.MaxENIs >= 1 {
		t.Fatalf("the fixture still knows the ENI limit (%d)", r.Capacity.MaxENIs)
	}
	if r.Forecast != nil {
		t.Errorf("forecast %+v without ENI limits", r.Forecast)
	}
}

// TestForecastTrend: the cluster view's trend makes a subnet low when it runs out within the
// horizon, even with plenty of addresses free, and the report says when.
func TestForecastTrend(t *testing.T) {
	t.Parallel()
	st := healthySecondary()
	st.Subnets = map[string]nodestate.SubnetView{"subnet-node": {
		SubnetID: "subnet-node", Size: 1024, FreeAddresses: 600, FreePrefixBlocks: 30,
		Trend: &nodestate.SubnetTrend{PerHour: 200, Span: 40 * time.Minute, Polls: 9},
	}}
	r := Diagnose(st, Options{Now: st.Time})
	o := r.Forecast.Subnet
	if o == nil || o.RunsOutInSeconds != 3*3600 || o.PerHour != 200 || !strings.Contains(o.Why, "runs out within 4h0m0s") {
		t.Fatalf("outlook %+v", o)
	}
	var text strings.Builder
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if want := "trend      600 free, 200 more used per hour over 40m0s (9 polls of the cluster view): runs out in 3h0m0s"; !strings.Contains(text.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, text.String())
	}
	st.Subnets["subnet-node"] = nodestate.SubnetView{SubnetID: "subnet-node", Size: 1024, FreeAddresses: 600, FreePrefixBlocks: 30,
		Trend: &nodestate.SubnetTrend{PerHour: 100, Span: time.Hour, Polls: 12}}
	if r := Diagnose(st, Options{Now: st.Time}); r.Forecast.Subnet != nil {
		t.Errorf("6 hours left and 20 nodes' room: not low, got %+v", r.Forecast.Subnet)
	}
}
