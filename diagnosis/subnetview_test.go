package diagnosis

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// The cluster-level subnet analysis turns InsufficientCidrBlocks into a confirmed verdict:
// free addresses but no free /28 = fragmentation; almost no free address = exhaustion.
func TestSubnetViewSettlesFragmentationVsExhaustion(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 2, 10, 0, 0, time.UTC)
	frag := func(view *nodestate.SubnetView) *nodestate.State {
		st := healthyPrefix()
		logClass(st, logparse.PrefixFragmented, codeInsufficientCidrBlocks, "subnet-node", "api error InsufficientCidrBlocks")
		if view != nil {
			view.SubnetID, view.At = "subnet-node", at
			st.Subnets = map[string]nodestate.SubnetView{"subnet-node": *view, "subnet-other": {SubnetID: "subnet-other", Size: 4096, FreeAddresses: 4000, FreePrefixBlocks: 250}}
		}
		return st
	}
	tests := []struct {
		name     string
		st       *nodestate.State
		want     Cause
		notWant  Cause
		evidence string
	}{
		{"no analysis: fragmentation, the confirm step tells", frag(nil), CausePrefixFragmented, CauseSubnetExhausted, "well above 16 means fragmentation"},
		{"confirmed", frag(&nodestate.SubnetView{Size: 1024, FreeAddresses: 140, FreePrefixBlocks: 0, LargestFreeBlock: 8, FragmentationRatio: 1}),
			CausePrefixFragmented, CauseSubnetExhausted, "fragmentation confirmed by the subnet analysis"},
		{"actually full", frag(&nodestate.SubnetView{Size: 1024, FreeAddresses: 5, FreePrefixBlocks: 0, LargestFreeBlock: 4, FragmentationRatio: 1}),
			CauseSubnetExhausted, CausePrefixFragmented, "the subnet is exhausted, not fragmented"},
		{"blocks free now", frag(&nodestate.SubnetView{Size: 1024, FreeAddresses: 300, FreePrefixBlocks: 12, LargestFreeBlock: 64, FragmentationRatio: 0.3}),
			CausePrefixFragmented, CauseSubnetExhausted, "free /28 block(s) now"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Diagnose(tc.st, Options{Now: tc.st.Time})
			got := causesOf(r)
			if !slices.Contains(got, tc.want) || slices.Contains(got, tc.notWant) {
				t.Fatalf("causes = %v, want %s and not %s", got, tc.want, tc.notWant)
			}
			for _, f := range r.Findings {
				if f.Cause == tc.want && !strings.Contains(strings.Join(f.Evidence, "\n"), tc.evidence) {
					t.Errorf("evidence lacks %q:\n%s", tc.evidence, strings.Join(f.Evidence, "\n"))
				}
			}
		})
	}
}

func TestKnownCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"InsufficientCidrBlocks": true, "RequestLimitExceeded": true, "AccessDenied": true,
		"PrivateIpAddressLimitExceeded": true, "SomethingNew": false, "": false,
	} {
		if got := KnownCode(code); got != want {
			t.Errorf("KnownCode(%q) = %v, want %v", code, got, want)
		}
	}
}
