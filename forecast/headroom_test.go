package forecast_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/forecast/ipamdsim"
)

// joinUntilFull lets nodes of one group join, one after the other, each scaling to pods pods
// and settling, until one cannot get its whole claim; it returns how many did. The subnet
// under test is the group's node subnet or, with custom networking, its pod subnet (pods
// true); the other subnet has room to spare.
func joinUntilFull(t *testing.T, g forecast.Group, pods int, c forecast.Claim, free, blocks int, seed uint64) int {
	t.Helper()
	big := func(id string) *ipamdsim.Subnet {
		s, err := ipamdsim.NewSubnet(id, 1<<20, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tested, err := ipamdsim.NewSubnet("subnet-tested", free, blocks)
	if err != nil {
		t.Fatal(err)
	}
	nodeSub, podSub := tested, big("subnet-pods")
	if g.Settings.CustomNetworking && g.PodSubnet {
		nodeSub, podSub = big("subnet-node"), tested
	}
	joined := 0
	for i := range 100000 {
		n, err := ipamdsim.Launch(g.Settings, g.Limits, nodeSub, podSub, seed+uint64(i))
		if err != nil {
			return joined // the instance could not even launch
		}
		st := n.ScaleTo(pods, 3*time.Minute)
		if st.Assigned < c.PodsPlaced || st.Slots < c.Hold.Slots {
			return joined
		}
		joined++
	}
	t.Fatal("the subnet never filled")
	return 0
}

// TestHeadroomMatchesNodesJoining checks the what-if against the brute-force simulation of
// nodes joining a subnet with the same settings: random groups, random free space, /28 blocks
// known or not.
func TestHeadroomMatchesNodesJoining(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(41, 12))
	exact, ranged := 0, 0
	for i := range 120 {
		s, l, _ := randomCase(rng)
		if s.MaxENI != 0 && s.MaxENI < 2 && s.CustomNetworking {
			s.MaxENI = 0 // no pod ENI at all: nothing to join
		}
		pods := rng.IntN(min(l.MaxPods, 120) + 1)
		g := forecast.Group{Limits: l, Settings: s, Nodes: 3, Pods: 3 * pods, NodeSubnet: true}
		if s.CustomNetworking {
			g.NodeSubnet, g.PodSubnet = false, true
		}
		free := 20 + rng.IntN(3000)
		blocks := -1
		if s.PrefixDelegation && rng.IntN(2) == 0 {
			blocks = rng.IntN(free/forecast.AddressesPerPrefix + 1)
		}
		space := forecast.Space{SubnetID: "subnet-tested", Basis: forecast.BasisExact, Free: free, FreeBlocks: blocks}
		h, err := forecast.SubnetHeadroom(space, []forecast.Group{g})
		if err != nil {
			t.Fatal(err)
		}
		cur := h.Groups[0].Current
		simBlocks := blocks
		if simBlocks < 0 {
			simBlocks = free / forecast.AddressesPerPrefix // unknown: the simulated subnet is not fragmented
		}
		got := joinUntilFull(t, g, pods, cur.Claim, free, simBlocks, uint64(i)*1000)
		name := fmt.Sprintf("case %d: %s on %s-like %dx%d max-pods %d, %d pods/node, %d free (%d blocks)",
			i, s, "random", l.ENIs, l.IPv4PerENI, l.MaxPods, pods, free, blocks)
		switch {
		case cur.Claim.Worst != cur.Claim.Hold || cur.Claim.Oscillates:
			// Pod placement (WARM_PREFIX_TARGET >= 2) or a node frozen at its trough lets the
			// simulation fit more; the what-if counts the worst case.
			ranged++
			if got < cur.Nodes {
				t.Errorf("%s: what-if says %d more nodes, the simulation fit only %d", name, cur.Nodes, got)
			}
		default:
			exact++
			if got != cur.Nodes {
				t.Errorf("%s: what-if says %d more nodes (%d addresses each, bound %s), the simulation fit %d",
					name, cur.Nodes, cur.PerNode, cur.Bound, got)
			}
		}
	}
	if exact < 80 {
		t.Errorf("only %d exact comparisons", exact)
	}
	t.Logf("%d exact comparisons, %d lower-bound comparisons", exact, ranged)
}

// TestWarmSettingWhatIf: the example of the issue, an m5.large group with the default
// WARM_ENI_TARGET=1 in a small subnet, compared with WARM_IP_TARGET=2 and MINIMUM_IP_TARGET.
func TestWarmSettingWhatIf(t *testing.T) {
	t.Parallel()
	m5large := forecast.Limits{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, MaxPods: 29}
	g := forecast.Group{Limits: m5large, Settings: forecast.DefaultSettings(), Nodes: 20, Pods: 160, NodeSubnet: true}
	h, err := forecast.SubnetHeadroom(forecast.NodeLocalSpace("subnet-a", 1024, 400), []forecast.Group{g})
	if err != nil {
		t.Fatal(err)
	}
	gh := h.Groups[0]
	// 8 pods per node: WARM_ENI_TARGET=1 keeps two full ENIs (18 secondary IPs + 2 primaries);
	// WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10 keeps 10, one more than the primary ENI's 9, so a
	// second ENI with its primary: 12.
	if gh.Current.PerNode != 20 || gh.Current.Nodes != (1024-5-400)/20 {
		t.Errorf("current: %d per node, %d nodes", gh.Current.PerNode, gh.Current.Nodes)
	}
	best, ok := gh.Best()
	if !ok {
		t.Fatal("no alternative beats WARM_ENI_TARGET=1")
	}
	if best.Label != "WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10" || best.PerNode != 12 || best.GiveBack != 20*8 {
		t.Errorf("best: %q, %d per node, %d given back", best.Label, best.PerNode, best.GiveBack)
	}
	if want := (1024 - 5 - 400 + 160) / 12; best.Nodes != want {
		t.Errorf("best takes %d nodes, want %d", best.Nodes, want)
	}
	s := gh.Sentence()
	for _, part := range []string{"30 more m5.large nodes at 8 pods each (240 pods)", "with WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10 it takes 64 more instead of 30"} {
		if !strings.Contains(s, part) {
			t.Errorf("sentence %q lacks %q", s, part)
		}
	}
}

func TestNodesThatFit(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		free, blocks, per, prefixes int
		want                        int
		bound                       forecast.Bound
	}{
		"addresses only":                {100, -1, 20, 0, 5, forecast.BoundAddresses},
		"nothing here":                  {100, -1, 0, 0, -1, forecast.BoundNone},
		"blocks plenty":                 {320, 20, 33, 2, 9, forecast.BoundAddresses},
		"fragmented: no block":          {300, 0, 17, 1, 0, forecast.BoundPrefixBlocks},
		"singles break blocks":          {64, 4, 17, 1, 3, forecast.BoundAddresses},
		"blocks bind, singles in loose": {80, 3, 18, 1, 3, forecast.BoundPrefixBlocks},
		"singles break the last block":  {48, 3, 18, 1, 2, forecast.BoundAddresses},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, bound := forecast.NodesThatFit(tc.free, tc.blocks, tc.per, tc.prefixes)
			if got != tc.want || bound != tc.bound {
				t.Errorf("NodesThatFit(%d, %d, %d, %d) = %d (%s), want %d (%s)", tc.free, tc.blocks, tc.per, tc.prefixes, got, bound, tc.want, tc.bound)
			}
		})
	}
}
