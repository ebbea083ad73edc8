package forecast

import (
	"fmt"
	"sort"
)

// Basis says where a subnet's free count comes from.
type Basis string

// Bases, best first.
const (
	// BasisExact: `ipamwatch subnets` read every ENI and CIDR reservation of the subnet from
	// EC2: free addresses and free aligned /28 blocks are exact.
	BasisExact Basis = "exact"
	// BasisNodeLocal: the agents' own numbers, CIDR size minus the 5 AWS-reserved addresses
	// minus what the nodes hold. Other users of the subnet (load balancers, endpoints, nodes
	// without the agent) are invisible, so the free count is an upper bound and the headroom
	// optimistic; /28 fragmentation is unknown.
	BasisNodeLocal Basis = "node_local"
	// BasisRefused: EC2 refused a node addresses in the subnet (InsufficientFreeAddressesInSubnet,
	// InsufficientCidrBlocks) and nothing better is known: no more nodes fit.
	BasisRefused Basis = "ec2_refused"
)

// AWSReservedAddresses are the first four and the last address of every subnet.
const AWSReservedAddresses = 5

// Space is what a subnet has left.
type Space struct {
	SubnetID string `json:"subnet_id"`
	Basis    Basis  `json:"basis"`
	Free     int    `json:"free_addresses"`
	// FreeBlocks are free aligned /28s; -1 when unknown (node-local basis).
	FreeBlocks int `json:"free_prefix_blocks"`
}

// NodeLocalSpace is the node-local bound: size - 5 - held, never below zero.
func NodeLocalSpace(subnetID string, cidrSize, held int) Space {
	return Space{SubnetID: subnetID, Basis: BasisNodeLocal, Free: max(cidrSize-AWSReservedAddresses-held, 0), FreeBlocks: -1}
}

// Group is nodes of one instance type and one set of warm settings that use a subnet.
type Group struct {
	Limits   Limits   `json:"limits"`
	Settings Settings `json:"settings"`
	// Nodes in the group now, and the pods (pod network, branch-ENI pods excluded) they run.
	Nodes int `json:"nodes"`
	Pods  int `json:"pods"`
	// NodeSubnet: the subnet is the group's node subnet (primary ENIs; everything without
	// custom networking). PodSubnet: it is the group's ENIConfig subnet (custom networking).
	NodeSubnet bool `json:"node_subnet"`
	PodSubnet  bool `json:"pod_subnet"`
}

// PodsPerNode is the group's current pods per node, rounded up (a new node like the average,
// never lighter).
func (g Group) PodsPerNode() int { return ceilDiv(g.Pods, max(g.Nodes, 1)) }

// in is what a hold takes in the subnet, and how many of those are /28 prefixes. Without
// custom networking everything is in the node subnet, whichever flag is set.
func (g Group) in(h Hold) (total, prefixes int) {
	pd := g.Settings.PrefixDelegation
	if !g.Settings.CustomNetworking {
		if pd {
			prefixes = h.Slots
		}
		return h.NodeSubnet, prefixes
	}
	if g.NodeSubnet {
		total += h.NodeSubnet
	}
	if g.PodSubnet {
		total += h.PodSubnet
		if pd {
			prefixes = h.Slots
		}
	}
	return total, prefixes
}

// Bound names what limits the nodes a subnet can take.
type Bound string

// Bounds.
const (
	BoundAddresses    Bound = "addresses"
	BoundPrefixBlocks Bound = "prefix_blocks"
	// BoundNone: new nodes of the group take nothing in this subnet.
	BoundNone Bound = "none"
)

// Scenario is one way of running a group's new nodes, and what the subnet then takes.
type Scenario struct {
	Name     ScenarioName `json:"scenario"`
	Settings Settings     `json:"settings"`
	Label    string       `json:"label"`
	Claim    Claim        `json:"claim"`
	// PerNode is what one more node takes in the subnet (the claim's worst case), of which
	// PrefixesPerNode are /28 prefixes.
	PerNode         int `json:"per_node_addresses"`
	PrefixesPerNode int `json:"per_node_prefixes"`
	// GiveBack is what the group's current nodes would release if they ran these settings at
	// the current pods per node: an upper estimate, since ipamd keeps ENIs and prefixes that
	// pods still use. Zero for the current settings.
	GiveBack int `json:"give_back_addresses"`
	// Nodes and Pods are how many more nodes (at the current pods per node) the subnet takes;
	// Nodes is -1 when the group's nodes take nothing here.
	Nodes int   `json:"nodes"`
	Pods  int   `json:"pods"`
	Bound Bound `json:"bound"`
}

// GroupHeadroom is a group's headroom now and with other warm settings.
type GroupHeadroom struct {
	Group        Group      `json:"group"`
	PodsPerNode  int        `json:"pods_per_node"`
	Current      Scenario   `json:"current"`
	Alternatives []Scenario `json:"alternatives,omitempty"`
}

// Best returns the alternative that takes the most more nodes, if any takes more than now.
func (h GroupHeadroom) Best() (Scenario, bool) {
	best, ok := h.Current, false
	for _, a := range h.Alternatives {
		if a.Nodes > best.Nodes {
			best, ok = a, true
		}
	}
	return best, ok
}

// Sentence says it the way an on-call person reads it.
func (h GroupHeadroom) Sentence() string {
	g := h.Group
	cur := h.Current
	if cur.Bound == BoundNone {
		return fmt.Sprintf("%s nodes (%s) take no addresses from this subnet", g.Limits.InstanceType, cur.Label)
	}
	var s string
	if cur.Nodes == 0 {
		s = fmt.Sprintf("no more %s nodes at %d pods each fit: one takes %d addresses with %s",
			g.Limits.InstanceType, h.PodsPerNode, cur.PerNode, cur.Label)
	} else {
		s = fmt.Sprintf("%d more %s nodes at %d pods each (%d pods), %d addresses per node with %s",
			cur.Nodes, g.Limits.InstanceType, h.PodsPerNode, cur.Pods, cur.PerNode, cur.Label)
	}
	if best, ok := h.Best(); ok {
		s += fmt.Sprintf("; with %s it takes %d more instead of %d (%d addresses per node", best.Label, best.Nodes, cur.Nodes, best.PerNode)
		if best.GiveBack > 0 {
			s += fmt.Sprintf(", %d given back by the current nodes", best.GiveBack)
		}
		return s + ")"
	}
	// No alternative fits a node more, but one may still hold less.
	for _, a := range h.Alternatives {
		if a.PerNode < cur.PerNode {
			s += fmt.Sprintf("; with %s a node would take %d", a.Label, a.PerNode)
			if a.GiveBack > 0 {
				s += fmt.Sprintf(" and the current nodes would give back %d", a.GiveBack)
			}
			break
		}
	}
	return s
}

// Headroom is a subnet's what-if for every group that uses it.
type Headroom struct {
	Space  Space           `json:"space"`
	Groups []GroupHeadroom `json:"groups"`
}

// SubnetHeadroom works out, for each group, how many more nodes like its current ones the
// subnet can take, and the same under the alternative warm settings of Scenarios. Each
// group is taken alone: the nodes of all groups compete for the same free addresses.
func SubnetHeadroom(space Space, groups []Group) (Headroom, error) {
	if space.Free < 0 {
		return Headroom{}, fmt.Errorf("%w: free addresses must not be negative, got %d", ErrInvalidInput, space.Free)
	}
	out := Headroom{Space: space}
	for _, g := range groups {
		if g.Nodes < 0 || g.Pods < 0 {
			return Headroom{}, fmt.Errorf("%w: group %s: negative nodes or pods", ErrInvalidInput, g.Limits.InstanceType)
		}
		if !g.NodeSubnet && !g.PodSubnet {
			return Headroom{}, fmt.Errorf("%w: group %s uses the subnet neither as node nor as pod subnet", ErrInvalidInput, g.Limits.InstanceType)
		}
		p := g.PodsPerNode()
		scs := Scenarios(g.Settings, p)
		cur, err := scenario(space, g, scs[0], p, 0, 0)
		if err != nil {
			return Headroom{}, err
		}
		gh := GroupHeadroom{Group: g, PodsPerNode: p, Current: cur}
		for _, alt := range scs[1:] {
			a, err := scenario(space, g, alt, p, 0, 0)
			if err != nil {
				return Headroom{}, err
			}
			// The current nodes at the current pods per node, under either settings.
			give := max(cur.PerNode-a.PerNode, 0) * g.Nodes
			givePfx := max(cur.PrefixesPerNode-a.PrefixesPerNode, 0) * g.Nodes
			a, err = scenario(space, g, alt, p, give, givePfx)
			if err != nil {
				return Headroom{}, err
			}
			gh.Alternatives = append(gh.Alternatives, a)
		}
		out.Groups = append(out.Groups, gh)
	}
	sort.SliceStable(out.Groups, func(i, j int) bool { return out.Groups[i].Group.Nodes > out.Groups[j].Group.Nodes })
	return out, nil
}

func scenario(space Space, g Group, ns NamedSettings, pods, giveBack, giveBackPrefixes int) (Scenario, error) {
	s := ns.Settings
	c, err := NodeClaim(s, g.Limits, pods)
	if err != nil {
		return Scenario{}, fmt.Errorf("group %s: %w", g.Limits.InstanceType, err)
	}
	gs := g
	gs.Settings = s
	per, prefixes := gs.in(c.Worst)
	sc := Scenario{Name: ns.Name, Settings: s, Label: s.String(), Claim: c, PerNode: per, PrefixesPerNode: prefixes, GiveBack: giveBack}
	free := space.Free + giveBack
	blocks := space.FreeBlocks
	if blocks >= 0 {
		blocks += giveBackPrefixes
	}
	sc.Nodes, sc.Bound = NodesThatFit(free, blocks, per, prefixes)
	if sc.Nodes > 0 {
		sc.Pods = sc.Nodes * c.PodsPlaced
	}
	return sc, nil
}

// NodesThatFit is how many nodes taking per addresses each, prefixes of them as aligned /28s,
// fit in free addresses of which blocks are free /28s (blocks < 0: unknown, addresses only).
// Single addresses use space outside the free blocks first and break a block only when there
// is none (the optimistic reading of EC2's placement). Nodes is -1 when per is 0.
func NodesThatFit(free, blocks, per, prefixes int) (int, Bound) {
	if per <= 0 {
		return -1, BoundNone
	}
	byAddr := free / per
	if blocks < 0 || prefixes == 0 {
		return byAddr, BoundAddresses
	}
	singles := per - AddressesPerPrefix*prefixes
	loose := free - AddressesPerPrefix*blocks
	fits := func(n int) bool {
		broken := ceilDiv(max(n*singles-loose, 0), AddressesPerPrefix)
		return n*per <= free && n*prefixes <= blocks-broken
	}
	// fits is monotone in n: binary search below the address bound.
	lo, hi := 0, byAddr
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < byAddr {
		return lo, BoundPrefixBlocks
	}
	return lo, BoundAddresses
}

// ScenarioName names one way of running a node in the what-if; the names are metric label
// values (bounded), the settings behind them depend on the node.
type ScenarioName string

// Scenarios.
const (
	// ScenarioCurrent is the node's own settings.
	ScenarioCurrent ScenarioName = "current"
	// ScenarioDocsAdvice is the CNI docs' advice for small subnets: WARM_IP_TARGET=2 and
	// MINIMUM_IP_TARGET a little above the pods a node runs (docs/eni-and-ip-target.md: "like
	// 12" for 10 pods), here pods per node + 2.
	ScenarioDocsAdvice ScenarioName = "docs_advice"
	// ScenarioDefaultWarm is WARM_ENI_TARGET=1 (or WARM_PREFIX_TARGET=1 under prefix
	// delegation) for a node that keeps more.
	ScenarioDefaultWarm ScenarioName = "default_warm"
)

// NamedSettings is a scenario's settings.
type NamedSettings struct {
	Name     ScenarioName
	Settings Settings
}

// Scenarios are the current settings, then the alternatives the what-if compares with them for
// nodes running pods pods (see the ScenarioName constants); an alternative equal to the current
// settings is left out. Alternatives differ from s in the warm settings only.
func Scenarios(s Settings, pods int) []NamedSettings {
	out := []NamedSettings{{ScenarioCurrent, s}}
	add := func(n ScenarioName, a Settings) {
		if a.Mode() == s.Mode() && a.WarmENITarget == s.WarmENITarget && a.WarmIPTarget == s.WarmIPTarget &&
			a.MinimumIPTarget == s.MinimumIPTarget && a.WarmPrefixTarget == s.WarmPrefixTarget {
			return
		}
		out = append(out, NamedSettings{n, a})
	}
	tight := s
	tight.WarmIPTarget, tight.MinimumIPTarget = 2, pods+2
	add(ScenarioDocsAdvice, tight)
	switch s.Mode() {
	case ModeWarmENI:
		if s.WarmENITarget > 1 {
			a := s
			a.WarmENITarget = 1
			add(ScenarioDefaultWarm, a)
		}
	case ModeWarmPrefix:
		if s.WarmPrefixTarget > 1 {
			a := s
			a.WarmPrefixTarget = 1
			add(ScenarioDefaultWarm, a)
		}
	}
	return out
}

// Slope is the least-squares slope of ys over xs (the same estimate as PromQL's deriv), and
// false with fewer than two distinct xs.
func Slope(xs, ys []float64) (float64, bool) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}
