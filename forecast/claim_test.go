package forecast_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/forecast/ipamdsim"
)

// Instance limits from amazon-vpc-cni-k8s v1.23.0 pkg/vpc/vpc_ip_resource_limit.go (ENILimit,
// IPv4Limit), max-pods from misc/eni-max-pods.txt (secondary IPs) and the EKS cap for prefix
// delegation (110 up to 30 vCPUs, else 250).
var (
	t3small   = forecast.Limits{InstanceType: "t3.small", ENIs: 3, IPv4PerENI: 4, MaxPods: 11}
	t3smallPD = forecast.Limits{InstanceType: "t3.small", ENIs: 3, IPv4PerENI: 4, MaxPods: 110}
	p3dn      = forecast.Limits{InstanceType: "p3dn.24xlarge", ENIs: 15, IPv4PerENI: 50, MaxPods: 737}
	p3dnPD    = forecast.Limits{InstanceType: "p3dn.24xlarge", ENIs: 15, IPv4PerENI: 50, MaxPods: 250}
)

// docRow is one row of the worked tables in amazon-vpc-cni-k8s v1.23.0 docs/eni-and-ip-target.md
// (secondary IPs) and docs/prefix-and-ip-target.md (prefixes): ENIs, attached secondary IPs or
// prefixes, and unused IPs.
type docRow struct {
	limits   forecast.Limits
	settings forecast.Settings
	pods     int
	enis     int
	slots    int
	unused   int
	// differs lists the columns where the docs disagree with ipamd v1.23.0's code, with the
	// value the code gives; why says why.
	differs map[string]int
	why     string
}

func warmENI(w int) forecast.Settings { return forecast.Settings{WarmENITarget: w} }
func warmIP(w, m int) forecast.Settings {
	return forecast.Settings{WarmENITarget: 1, WarmIPTarget: w, MinimumIPTarget: m}
}
func warmPrefix(w int) forecast.Settings {
	return forecast.Settings{PrefixDelegation: true, WarmENITarget: 1, WarmPrefixTarget: w}
}
func prefixIP(w, m int) forecast.Settings {
	return forecast.Settings{PrefixDelegation: true, WarmENITarget: 1, WarmIPTarget: w, MinimumIPTarget: m}
}

const (
	whyOneENI = "the docs count 2-3 ENIs on p3dn.24xlarge although one ENI takes 49 prefixes; " +
		"ipamd attaches an ENI only when no ENI has room (increaseDatastorePool: tryAssignPrefixes " +
		"before tryAllocateENI), so the prefixes the docs count sit on one ENI"
	whyMinimum = "MINIMUM_IP_TARGET=20 asks for 20 addresses on an empty node: datastoreTargetState's " +
		"short is 20, ceil(20/16) = 2 prefixes (the row's own 'prefixes per ENI' column says 2); 32 unused"
)

var docTables = []docRow{
	// docs/eni-and-ip-target.md
	{limits: t3small, settings: warmENI(1), pods: 0, enis: 1, slots: 3, unused: 3},
	{limits: t3small, settings: warmENI(1), pods: 5, enis: 3, slots: 9, unused: 4},
	{limits: t3small, settings: warmENI(1), pods: 9, enis: 3, slots: 9, unused: 0},
	{limits: t3small, settings: warmIP(1, 1), pods: 0, enis: 1, slots: 1, unused: 1},
	{limits: t3small, settings: warmIP(1, 1), pods: 5, enis: 2, slots: 6, unused: 1},
	{limits: t3small, settings: warmIP(1, 1), pods: 9, enis: 3, slots: 9, unused: 0},
	{limits: t3small, settings: warmIP(2, 5), pods: 0, enis: 2, slots: 5, unused: 5},
	{limits: t3small, settings: warmIP(2, 5), pods: 5, enis: 3, slots: 7, unused: 2},
	{limits: t3small, settings: warmIP(2, 5), pods: 9, enis: 3, slots: 9, unused: 0},
	{limits: p3dn, settings: warmENI(1), pods: 0, enis: 1, slots: 49, unused: 49},
	{limits: p3dn, settings: warmENI(1), pods: 3, enis: 2, slots: 98, unused: 95},
	{limits: p3dn, settings: warmENI(1), pods: 95, enis: 3, slots: 147, unused: 52},
	{limits: p3dn, settings: warmIP(5, 10), pods: 0, enis: 1, slots: 10, unused: 10},
	{limits: p3dn, settings: warmIP(5, 10), pods: 7, enis: 1, slots: 12, unused: 5},
	{limits: p3dn, settings: warmIP(5, 10), pods: 15, enis: 1, slots: 20, unused: 5},
	{limits: p3dn, settings: warmIP(5, 10), pods: 45, enis: 2, slots: 50, unused: 5},
	// docs/prefix-and-ip-target.md
	{limits: t3smallPD, settings: warmPrefix(1), pods: 0, enis: 1, slots: 1, unused: 16},
	{limits: t3smallPD, settings: warmPrefix(1), pods: 5, enis: 1, slots: 2, unused: 27},
	{limits: t3smallPD, settings: warmPrefix(1), pods: 16, enis: 1, slots: 2, unused: 16},
	{limits: t3smallPD, settings: warmPrefix(1), pods: 17, enis: 1, slots: 3, unused: 31},
	{limits: t3smallPD, settings: warmPrefix(1), pods: 58, enis: 2, slots: 5, unused: 22},
	{limits: t3smallPD, settings: prefixIP(1, 1), pods: 0, enis: 1, slots: 1, unused: 16},
	{limits: t3smallPD, settings: prefixIP(1, 1), pods: 5, enis: 1, slots: 1, unused: 11},
	{limits: t3smallPD, settings: prefixIP(1, 1), pods: 17, enis: 1, slots: 2, unused: 15},
	{limits: t3smallPD, settings: prefixIP(1, 1), pods: 58, enis: 2, slots: 4, unused: 6},
	{limits: t3smallPD, settings: prefixIP(7, 20), pods: 0, enis: 1, slots: 1, unused: 16,
		differs: map[string]int{"slots": 2, "unused": 32}, why: whyMinimum},
	{limits: t3smallPD, settings: prefixIP(7, 20), pods: 5, enis: 1, slots: 2, unused: 27},
	{limits: t3smallPD, settings: prefixIP(7, 20), pods: 17, enis: 1, slots: 2, unused: 15},
	{limits: t3smallPD, settings: prefixIP(7, 20), pods: 58, enis: 2, slots: 5, unused: 22},
	{limits: p3dnPD, settings: warmPrefix(1), pods: 0, enis: 1, slots: 1, unused: 16},
	{limits: p3dnPD, settings: warmPrefix(1), pods: 3, enis: 2, slots: 2, unused: 29,
		differs: map[string]int{"enis": 1}, why: whyOneENI},
	{limits: p3dnPD, settings: warmPrefix(1), pods: 95, enis: 3, slots: 7, unused: 17,
		differs: map[string]int{"enis": 1}, why: whyOneENI},
	{limits: p3dnPD, settings: prefixIP(5, 10), pods: 0, enis: 1, slots: 1, unused: 16},
	{limits: p3dnPD, settings: prefixIP(5, 10), pods: 7, enis: 1, slots: 1, unused: 9},
	{limits: p3dnPD, settings: prefixIP(5, 10), pods: 15, enis: 1, slots: 2, unused: 17},
	{limits: p3dnPD, settings: prefixIP(5, 10), pods: 45, enis: 2, slots: 4, unused: 19,
		differs: map[string]int{"enis": 1}, why: whyOneENI},
}

// TestDocTables holds NodeClaim and the simulator against every row of the CNI's worked
// tables. Where a row disagrees with ipamd's code, the test requires exactly the listed
// columns to differ, with the code's value, so a fixed model or a corrected doc row shows up.
func TestDocTables(t *testing.T) {
	t.Parallel()
	for i, r := range docTables {
		t.Run(fmt.Sprintf("%02d_%s_%s_pods%d", i, r.limits.InstanceType, r.settings.Mode(), r.pods), func(t *testing.T) {
			t.Parallel()
			c, err := forecast.NodeClaim(r.settings, r.limits, r.pods)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{"enis": c.Hold.ENIs, "slots": c.Hold.Slots, "unused": c.Hold.Idle}
			want := map[string]int{"enis": r.enis, "slots": r.slots, "unused": r.unused}
			for k, v := range r.differs {
				if want[k] == v {
					t.Fatalf("row lists %s as differing but the docs' value is the code's (%d)", k, v)
				}
				want[k] = v
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("NodeClaim(%s, %s, %d pods) (-want +got):\n%s", r.settings, r.limits.InstanceType, r.pods, diff)
			}
			st := simulate(t, r.settings, r.limits, r.pods, uint64(i+1))
			simGot := map[string]int{"enis": st.ENIs, "slots": st.Slots, "unused": st.PodAddresses - st.Assigned}
			if diff := cmp.Diff(want, simGot); diff != "" {
				t.Errorf("simulated ipamd (-want +got):\n%s", diff)
			}
		})
	}
}

// simulate launches a node in a large subnet and scales it to pods.
func simulate(t *testing.T, s forecast.Settings, l forecast.Limits, pods int, seed uint64) ipamdsim.State {
	t.Helper()
	nodeSub, err := ipamdsim.NewSubnet("subnet-node", 1<<16, 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	podSub, err := ipamdsim.NewSubnet("subnet-pods", 1<<16, 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ipamdsim.Launch(s, l, nodeSub, podSub, seed)
	if err != nil {
		t.Fatal(err)
	}
	return n.ScaleTo(pods, 5*time.Minute)
}

// randomCase draws instance limits, settings and a pod count. The ranges cover the real
// instance table (2-15 ENIs, 2-50 addresses per ENI), every scheme, MAX_ENI, custom networking,
// the trunk ENI and max-pods both binding and not.
func randomCase(rng *rand.Rand) (forecast.Settings, forecast.Limits, int) {
	l := forecast.Limits{ENIs: 2 + rng.IntN(14), IPv4PerENI: 2 + rng.IntN(49)}
	s := forecast.Settings{WarmENITarget: rng.IntN(3)}
	switch rng.IntN(4) {
	case 0:
	case 1:
		s.WarmIPTarget = rng.IntN(12)
		s.MinimumIPTarget = rng.IntN(40)
		if s.WarmIPTarget == 0 && s.MinimumIPTarget == 0 {
			s.WarmIPTarget = 1
		}
	case 2:
		s.PrefixDelegation = true
		s.WarmPrefixTarget = rng.IntN(4)
	case 3:
		s.PrefixDelegation = true
		s.WarmPrefixTarget = rng.IntN(2)
		s.WarmIPTarget = rng.IntN(20)
		s.MinimumIPTarget = rng.IntN(60)
		if s.WarmIPTarget == 0 && s.MinimumIPTarget == 0 {
			s.MinimumIPTarget = 16
		}
	}
	if rng.IntN(5) == 0 {
		s.MaxENI = 1 + rng.IntN(l.ENIs)
	}
	s.CustomNetworking = rng.IntN(4) == 0
	s.PodENI = rng.IntN(6) == 0
	perENI := l.IPv4PerENI - 1
	if s.PrefixDelegation {
		perENI *= forecast.AddressesPerPrefix
	}
	capacity := l.ENIs * perENI
	l.MaxPods = 1 + rng.IntN(min(capacity, 250)+20)
	pods := rng.IntN(l.MaxPods + 10)
	return s, l, pods
}

// TestClaimMatchesSimulation: random nodes scaled up pod by pod through the simulator hold
// what NodeClaim says, per subnet; with WARM_PREFIX_TARGET >= 2, between Hold and Worst.
func TestClaimMatchesSimulation(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(18, 2026))
	const cases = 400
	spread := 0
	for i := range cases {
		s, l, pods := randomCase(rng)
		c, err := forecast.NodeClaim(s, l, pods)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		st := simulate(t, s, l, pods, uint64(i))
		name := fmt.Sprintf("case %d: %s on %d ENIs x %d, max-pods %d, %d pods", i, s, l.ENIs, l.IPv4PerENI, l.MaxPods, pods)
		got := hold(st, s.CustomNetworking)
		if c.Worst != c.Hold {
			spread++
			if got.Slots < c.Hold.Slots || got.Slots > c.Worst.Slots {
				t.Errorf("%s: simulated %d prefixes, model says %d..%d", name, got.Slots, c.Hold.Slots, c.Worst.Slots)
			}
			continue
		}
		want := c.Hold
		want.Idle = want.PodAddresses - st.Assigned
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (binding %s) (-model +simulated):\n%s", name, c.Binding, diff)
		}
		if c.PodsPlaced != st.Assigned {
			t.Errorf("%s: model places %d pods, simulation %d", name, c.PodsPlaced, st.Assigned)
		}
	}
	if spread == 0 || spread == cases {
		t.Errorf("%d of %d cases had a placement spread: the draw no longer covers both", spread, cases)
	}
}

func hold(st ipamdsim.State, custom bool) forecast.Hold {
	h := forecast.Hold{ENIs: st.ENIs, Slots: st.Slots, PodAddresses: st.PodAddresses, Idle: st.PodAddresses - st.Assigned}
	h.NodeSubnet = st.Held["subnet-node"]
	if custom {
		h.PodSubnet = st.Held["subnet-pods"]
	}
	return h
}

func TestNodeClaimRejectsBadInput(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		s    forecast.Settings
		l    forecast.Limits
		pods int
	}{
		"no ENIs":           {forecast.DefaultSettings(), forecast.Limits{IPv4PerENI: 10, MaxPods: 29}, 1},
		"one address":       {forecast.DefaultSettings(), forecast.Limits{ENIs: 3, IPv4PerENI: 1, MaxPods: 29}, 1},
		"no max pods":       {forecast.DefaultSettings(), forecast.Limits{ENIs: 3, IPv4PerENI: 10}, 1},
		"negative pods":     {forecast.DefaultSettings(), forecast.Limits{ENIs: 3, IPv4PerENI: 10, MaxPods: 29}, -1},
		"negative target":   {forecast.Settings{WarmIPTarget: -2}, forecast.Limits{ENIs: 3, IPv4PerENI: 10, MaxPods: 29}, 1},
		"negative min":      {forecast.Settings{MinimumIPTarget: -1}, forecast.Limits{ENIs: 3, IPv4PerENI: 10, MaxPods: 29}, 1},
		"negative eni warm": {forecast.Settings{WarmENITarget: -1}, forecast.Limits{ENIs: 3, IPv4PerENI: 10, MaxPods: 29}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := forecast.NodeClaim(tc.s, tc.l, tc.pods); !errors.Is(err, forecast.ErrInvalidInput) {
				t.Errorf("got %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestResolveFollowsIpamdDefaults(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	for name, tc := range map[string]struct {
		raw  forecast.RawSettings
		want forecast.Settings
	}{
		"empty env":             {forecast.RawSettings{}, forecast.Settings{WarmENITarget: 1}},
		"negative warm eni":     {forecast.RawSettings{WarmENITarget: n(-3)}, forecast.Settings{WarmENITarget: 1}},
		"zero warm eni":         {forecast.RawSettings{WarmENITarget: n(0)}, forecast.Settings{WarmENITarget: 0}},
		"negative warm ip":      {forecast.RawSettings{WarmIPTarget: n(-1), MinimumIPTarget: n(-1)}, forecast.Settings{WarmENITarget: 1}},
		"max eni zero is unset": {forecast.RawSettings{MaxENI: n(0)}, forecast.Settings{WarmENITarget: 1}},
		"prefix manifest": {
			forecast.RawSettings{PrefixDelegation: true, WarmPrefixTarget: n(1), MaxENI: n(2)},
			forecast.Settings{PrefixDelegation: true, WarmENITarget: 1, WarmPrefixTarget: 1, MaxENI: 2},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, tc.raw.Resolve()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestZeroTargetsOscillate: with zero warm targets ipamd adds a slot when the pool is empty and
// gives it back a minute later; NodeClaim flags it and reports the peak, and the simulation
// really moves between peak and trough.
func TestZeroTargetsOscillate(t *testing.T) {
	t.Parallel()
	m5large := forecast.Limits{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, MaxPods: 110}
	for name, tc := range map[string]struct {
		s    forecast.Settings
		pods int
		osc  bool
	}{
		"warm eni 0 at a full ENI":       {warmENI(0), 9, true},
		"warm eni 0 between":             {warmENI(0), 10, false},
		"warm prefix 0 on an empty node": {warmPrefix(0), 0, true},
		"warm prefix 0 at a full prefix": {warmPrefix(0), 32, true},
		"warm prefix 0 between":          {warmPrefix(0), 33, false},
		"warm prefix 1 at a full prefix": {warmPrefix(1), 32, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := forecast.NodeClaim(tc.s, m5large, tc.pods)
			if err != nil {
				t.Fatal(err)
			}
			if c.Oscillates != tc.osc {
				t.Errorf("Oscillates = %v, want %v", c.Oscillates, tc.osc)
			}
			sub, err := ipamdsim.NewSubnet("subnet-node", 1<<12, 1<<8)
			if err != nil {
				t.Fatal(err)
			}
			n, err := ipamdsim.Launch(tc.s, m5large, sub, nil, 7)
			if err != nil {
				t.Fatal(err)
			}
			n.ScaleTo(tc.pods, 0)
			low, peak := n.SettleRange(10 * time.Minute)
			if moved := low.Slots != peak.Slots; moved != tc.osc {
				t.Errorf("simulation moved between %d and %d slots; oscillation expected: %v", low.Slots, peak.Slots, tc.osc)
			}
			if peak.Slots != c.Hold.Slots {
				t.Errorf("peak %d slots, NodeClaim %d", peak.Slots, c.Hold.Slots)
			}
		})
	}
}

// TestClaimIsTheFloorAfterChurn: a node that ran more pods and scaled back holds at least the
// claim (ipamd keeps ENIs and prefixes that pods still touch); under WARM_IP_TARGET with
// secondary IPs it gives back exactly down to the claim's addresses.
func TestClaimIsTheFloorAfterChurn(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 18))
	for i := range 150 {
		s, l, pods := randomCase(rng)
		c, err := forecast.NodeClaim(s, l, pods)
		if err != nil {
			t.Fatal(err)
		}
		nodeSub, _ := ipamdsim.NewSubnet("subnet-node", 1<<16, 1<<12)
		podSub, _ := ipamdsim.NewSubnet("subnet-pods", 1<<16, 1<<12)
		n, err := ipamdsim.Launch(s, l, nodeSub, podSub, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		n.ScaleTo(pods+1+rng.IntN(60), time.Minute)
		n.ScaleTo(pods, 0)
		low, _ := n.SettleRange(5 * time.Minute)
		name := fmt.Sprintf("case %d: %s, max-pods %d, %d pods", i, s, l.MaxPods, pods)
		if low.Slots < c.Hold.Slots || heldSum(low) < c.Hold.Addresses() {
			t.Errorf("%s: after churn %d slots / %d addresses, below the claim's %d / %d", name, low.Slots, heldSum(low), c.Hold.Slots, c.Hold.Addresses())
		}
		if c.Mode == forecast.ModeWarmIP && c.Binding == forecast.BindingTarget && low.Slots != c.Hold.Slots {
			t.Errorf("%s: WARM_IP_TARGET gave back to %d secondary IPs, claim %d", name, low.Slots, c.Hold.Slots)
		}
	}
}

func heldSum(st ipamdsim.State) int {
	t := 0
	for _, v := range st.Held {
		t += v
	}
	return t
}

func TestRawSettingsFromEnv(t *testing.T) {
	t.Parallel()
	got := forecast.RawSettingsFromEnv(map[string]string{
		"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1", "WARM_IP_TARGET": " 5 ",
		"MINIMUM_IP_TARGET": "ten", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "TRUE", "ENABLE_POD_ENI": "yes",
	}).Resolve()
	want := forecast.Settings{PrefixDelegation: true, CustomNetworking: true, WarmENITarget: 1, WarmIPTarget: 5, WarmPrefixTarget: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
