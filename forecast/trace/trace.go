// Package trace generates the metric series ipamwatch would record from a cluster over hours:
// nodes (each a brute-force ipamd from package ipamdsim) in one subnet, a workload that grows
// linearly, in bursts, stays flat with churn, or stays flat while nodes are replaced, a small
// scheduler that packs pods and a cluster autoscaler that adds nodes when pods do not fit.
// Every minute it records what the agents would export (per node: addresses held per subnet,
// the subnet's size, addresses per ENI by state, pods, node info) and what `ipamwatch subnets`
// would (exact free and used addresses, polled every five minutes). The series are written as
// OpenMetrics for `promtool tsdb create-blocks-from openmetrics` or as promtool unit-test
// input, so the forecast rules run in a real Prometheus over them.
package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/forecast/ipamdsim"
)

// Shape is how the workload moves.
type Shape string

// Shapes.
const (
	// Linear: pods grow at a constant rate; the autoscaler adds nodes as they fill.
	Linear Shape = "linear"
	// Bursty: pods arrive in bursts at random times (exponential gaps), flat in between.
	Bursty Shape = "bursty"
	// Churn: the pod count wanders around a constant mean; pods are replaced all the time.
	Churn Shape = "churn"
	// Recycle: constant pods; one node at a time is replaced (a new one joins, the oldest is
	// drained and terminated), as node-group upgrades and spot interruptions do.
	Recycle Shape = "recycle"
	// Large: the demo's `large` scenario per node (c5n.18xlarge-like, 480 pods wobbling by 20
	// as sin(seconds/7)), on several nodes.
	Large Shape = "large"
)

// Spec describes one trace.
type Spec struct {
	Name     string
	Shape    Shape
	Duration time.Duration
	Seed     uint64

	SubnetID string
	// CIDRSize is the subnet's size; OtherUsed are addresses held by others (load balancers,
	// endpoints), invisible to the agents.
	CIDRSize  int
	OtherUsed int

	Limits   forecast.Limits
	Settings forecast.Settings
	// Nodes and Pods at the start; the scheduler puts at most PodsPerNode pods on a node.
	Nodes       int
	Pods        int
	PodsPerNode int

	// GrowthPerHour: pods added per hour (Linear).
	GrowthPerHour float64
	// BurstPods arrive on average every BurstEvery (Bursty).
	BurstPods  int
	BurstEvery time.Duration
	// ChurnPerHour is the share of pods replaced per hour (any shape).
	ChurnPerHour float64
	// Wobble is how far the pod count wanders from its mean (Churn), or the per-node
	// amplitude of the demo's sine (Large).
	Wobble int
	// RecycleEvery: one node replaced per interval (Recycle).
	RecycleEvery time.Duration
}

// Timing of the simulated cluster.
const (
	// Scrape is the interval of the recorded series.
	Scrape = time.Minute
	// SubnetPoll is how often `ipamwatch subnets` reads EC2 (its default).
	SubnetPoll = 5 * time.Minute
	// NodeStartup is how long a node takes from the autoscaler's decision to Ready.
	NodeStartup = 90 * time.Second
	// Warmup runs the cluster at its starting workload before recording starts, so the
	// first nodes' pools have filled.
	Warmup = 30 * time.Minute
	// ScaleDownAfter: the autoscaler removes a node after the cluster could do without it
	// (pods fit on the others at 80% of PodsPerNode) for this long (Churn).
	ScaleDownAfter = 10 * time.Minute
)

// Sample is one value at a time offset from the trace's start.
type Sample struct {
	At    time.Duration
	Value float64
}

// Series is one recorded time series.
type Series struct {
	Name    string
	Labels  []Label // sorted by name
	Samples []Sample
}

// Label is one label pair.
type Label struct{ Name, Value string }

// Trace is a generated trace.
type Trace struct {
	Spec   Spec
	Series []*Series
	// Used is the addresses the cluster's nodes hold at each scrape (the truth the forecast is
	// held against), Free the subnet's free addresses, Nodes the node count.
	Used, Free, Nodes []Sample
	// Exhausted is when EC2 first refused an address for lack of space (0 = never).
	Exhausted time.Duration
}

type node struct {
	id        int
	name      string
	sim       *ipamdsim.Node
	readyAt   time.Duration
	draining  bool
	drainFrom time.Duration
	pending   int // scheduled pods still without an address
	wobbleAt  float64
}

func (n *node) pods() int { return n.sim.Pods() + n.pending }

type cluster struct {
	spec    Spec
	rng     *rand.Rand
	subnet  *ipamdsim.Subnet
	nodes   []*node
	seq     int
	now     time.Duration
	bursts  []time.Duration
	walk    float64
	recycle time.Duration
	spare   time.Duration // since when the cluster could do with a node fewer (0 = not)

	rec map[string]*Series
	out *Trace
}

// Generate runs the cluster for spec.Duration and records it.
func Generate(spec Spec) (*Trace, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	free := spec.CIDRSize - forecast.AWSReservedAddresses - spec.OtherUsed
	sub, err := ipamdsim.NewSubnet(spec.SubnetID, free, free/forecast.AddressesPerPrefix)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", spec.Name, err)
	}
	c := &cluster{
		spec: spec, rng: rand.New(rand.NewPCG(spec.Seed, 0x5eed)), subnet: sub,
		rec: map[string]*Series{}, out: &Trace{Spec: spec},
	}
	if spec.Shape == Bursty {
		for t := time.Duration(0); ; {
			t += time.Duration(c.rng.ExpFloat64() * float64(spec.BurstEvery))
			if t >= spec.Duration {
				break
			}
			c.bursts = append(c.bursts, t)
		}
	}
	for range spec.Nodes {
		if err := c.launch(-Warmup); err != nil {
			return nil, fmt.Errorf("trace %s: the subnet cannot hold the first nodes: %w", spec.Name, err)
		}
	}
	for c.now = -Warmup; c.now <= spec.Duration; c.now += ipamdsim.LoopInterval {
		c.step()
		if c.now < 0 {
			continue
		}
		if c.now%Scrape == 0 {
			c.scrape()
		}
		if c.out.Exhausted == 0 && sub.Refusals > 0 {
			c.out.Exhausted = max(c.now, time.Nanosecond)
		}
	}
	for _, s := range c.rec {
		c.out.Series = append(c.out.Series, s)
	}
	sort.Slice(c.out.Series, func(i, j int) bool { return seriesKey(c.out.Series[i]) < seriesKey(c.out.Series[j]) })
	return c.out, nil
}

func (s Spec) validate() error {
	switch {
	case s.Duration <= 0 || s.CIDRSize < 16 || s.Nodes < 1 || s.PodsPerNode < 1 || s.Pods < 0:
		return fmt.Errorf("trace %s: duration, subnet size, nodes and pods per node must be positive", s.Name)
	case s.Shape == Bursty && (s.BurstEvery <= 0 || s.BurstPods <= 0):
		return fmt.Errorf("trace %s: bursty needs BurstPods and BurstEvery", s.Name)
	case s.Shape == Recycle && s.RecycleEvery <= 0:
		return fmt.Errorf("trace %s: recycle needs RecycleEvery", s.Name)
	case s.Shape != Linear && s.Shape != Bursty && s.Shape != Churn && s.Shape != Recycle && s.Shape != Large:
		return fmt.Errorf("trace %s: unknown shape %q", s.Name, s.Shape)
	}
	return s.Limits.Validate()
}

// launch starts a node that is Ready after delay (an absolute time when negative: the
// warm-up's first nodes).
func (c *cluster) launch(delay time.Duration) error {
	sim, err := ipamdsim.Launch(c.spec.Settings, c.spec.Limits, c.subnet, c.subnet, c.spec.Seed*7919+uint64(c.seq))
	if err != nil {
		return err
	}
	ready := c.now + delay
	if delay < 0 {
		ready = delay
	}
	c.nodes = append(c.nodes, &node{
		id:   c.seq,
		name: fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", c.spec.Seed%250, c.seq/250, c.seq%250+1), sim: sim,
		readyAt: ready, wobbleAt: c.rng.Float64() * 2 * math.Pi,
	})
	c.seq++
	return nil
}

// desired is the workload's pod count now (Large: per node).
func (c *cluster) desired() int {
	s := c.spec
	hours := max(c.now, 0).Hours()
	switch s.Shape {
	case Linear:
		return s.Pods + int(s.GrowthPerHour*hours)
	case Bursty:
		n := s.Pods
		for _, b := range c.bursts {
			if b <= max(c.now, 0) {
				n += s.BurstPods
			}
		}
		return n
	case Churn:
		// A mean-reverting walk: the workload wanders by about Wobble pods, no trend.
		c.walk += c.rng.NormFloat64()*0.15 - c.walk*0.002
		return s.Pods + int(math.Round(float64(s.Wobble)*math.Tanh(c.walk/4)))
	default:
		return s.Pods
	}
}

func (c *cluster) step() {
	s := c.spec
	// Every node's ipamd runs its pool loop, and pods waiting for an address retry.
	for _, n := range c.nodes {
		n.sim.Tick()
		for n.pending > 0 {
			if _, ok := n.sim.AddPod(); !ok {
				break
			}
			n.pending--
		}
	}
	if s.Shape == Large {
		c.stepLarge()
		return
	}
	want := c.desired()
	// Churn: replace pods (a rollout deletes one and creates another).
	replace := c.poisson(s.ChurnPerHour * float64(c.scheduled()) * ipamdsim.LoopInterval.Hours())
	for range replace {
		if c.removeOne(false) {
			c.schedule(1)
		}
	}
	if d := want - c.scheduled(); d > 0 {
		c.schedule(d)
	} else if d < 0 {
		for range -d {
			c.removeOne(true)
		}
	}
	switch s.Shape {
	case Recycle:
		c.stepRecycle()
	case Churn:
		c.stepScaleDown()
	}
	c.drain()
}

// stepScaleDown is the autoscaler's scale-down: once the pods would fit on one node fewer at
// 80% of PodsPerNode for ScaleDownAfter, the emptiest node is drained and terminated.
func (c *cluster) stepScaleDown() {
	active := 0
	for _, n := range c.nodes {
		if !n.draining {
			active++
		}
	}
	if float64(c.scheduled()) > 0.8*float64((active-1)*c.spec.PodsPerNode) {
		c.spare = 0
		return
	}
	if c.spare == 0 {
		c.spare = c.now
	}
	if c.now-c.spare < ScaleDownAfter {
		return
	}
	c.spare = 0
	var emptiest *node
	for _, n := range c.nodes {
		if !n.draining && n.readyAt <= c.now && (emptiest == nil || n.pods() < emptiest.pods()) {
			emptiest = n
		}
	}
	if emptiest != nil {
		emptiest.draining = true
		emptiest.drainFrom = c.now
	}
}

// drain evicts a few pods per step from draining nodes (a drain with a PodDisruptionBudget);
// the scheduler places them elsewhere. An empty draining node is terminated.
func (c *cluster) drain() {
	for i := 0; i < len(c.nodes); i++ {
		n := c.nodes[i]
		if !n.draining || c.now < n.drainFrom {
			continue
		}
		for range 2 {
			if c.removeFrom(n) {
				c.schedule(1)
			}
		}
		if n.pods() == 0 {
			n.sim.Terminate()
			c.nodes = append(c.nodes[:i], c.nodes[i+1:]...)
			i--
		}
	}
}

// stepLarge follows the demo's `large` scenario on every node: n + round(w x sin(seconds/7)).
func (c *cluster) stepLarge() {
	for _, n := range c.nodes {
		want := c.spec.Pods + int(math.Round(float64(c.spec.Wobble)*math.Sin(c.now.Seconds()/7+n.wobbleAt)))
		for n.pods() < want {
			c.addTo(n)
		}
		for n.pods() > want {
			c.removeFrom(n)
		}
	}
}

func (c *cluster) poisson(mean float64) int {
	// Knuth's method; the means here are small.
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= c.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (c *cluster) scheduled() int {
	t := 0
	for _, n := range c.nodes {
		t += n.pods()
	}
	return t
}

// schedule places k pods on the least loaded ready nodes with room; what does not fit makes
// the autoscaler add nodes (one per PodsPerNode pods waiting, counting nodes still starting).
func (c *cluster) schedule(k int) {
	for range k {
		var best *node
		for _, n := range c.nodes {
			if n.draining || n.readyAt > c.now || n.pods() >= c.spec.PodsPerNode {
				continue
			}
			if best == nil || n.pods() < best.pods() {
				best = n
			}
		}
		if best == nil {
			c.scaleUp()
			return
		}
		c.addTo(best)
	}
}

func (c *cluster) scaleUp() {
	starting := 0
	for _, n := range c.nodes {
		if n.readyAt > c.now {
			starting++
		}
	}
	unschedulable := c.desired() - c.scheduled()
	need := (unschedulable + c.spec.PodsPerNode - 1) / c.spec.PodsPerNode
	for range need - starting {
		if err := c.launch(NodeStartup); err != nil {
			return // the instance cannot launch: the subnet is full
		}
	}
}

func (c *cluster) addTo(n *node) {
	if _, ok := n.sim.AddPod(); !ok {
		n.pending++
	}
}

func (c *cluster) removeFrom(n *node) bool {
	if n.pending > 0 {
		n.pending--
		return true
	}
	return n.sim.RemoveRandomPod()
}

// removeOne removes a pod from a random node (busiest when scaling in).
func (c *cluster) removeOne(busiest bool) bool {
	var cands []*node
	for _, n := range c.nodes {
		if n.pods() > 0 {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return false
	}
	pick := cands[c.rng.IntN(len(cands))]
	if busiest {
		for _, n := range cands {
			if n.pods() > pick.pods() {
				pick = n
			}
		}
	}
	return c.removeFrom(pick)
}

// stepRecycle replaces the oldest node every RecycleEvery: a new node joins, and once it is
// Ready the oldest is drained (its pods move through the scheduler) and terminated.
func (c *cluster) stepRecycle() {
	if c.now <= 0 || c.now-c.recycle < c.spec.RecycleEvery {
		return
	}
	c.recycle = c.now
	if err := c.launch(NodeStartup); err != nil {
		return
	}
	for _, n := range c.nodes {
		if !n.draining {
			n.draining, n.drainFrom = true, c.now+NodeStartup
			return
		}
	}
}

func (c *cluster) scrape() {
	s := c.spec
	used := 0
	for _, n := range c.nodes {
		st := n.sim.State()
		nl := Label{"node", n.name}
		for sub, held := range st.Held {
			used += held
			c.record("ipamwatch_subnet_node_held_addresses", float64(held), nl, Label{"subnet_id", sub})
			c.record("ipamwatch_subnet_cidr_addresses", float64(s.CIDRSize), nl, Label{"subnet_id", sub})
		}
		c.record("ipamwatch_node_info", 1, nl, Label{"instance_type", s.Limits.InstanceType}, Label{"subnet_id", s.SubnetID})
		c.record("ipamwatch_pods", float64(n.pods()), nl, Label{"network", "pod"})
		// The agent's what-if: what one more node like this one would hold, per scenario.
		for _, sc := range forecast.Scenarios(s.Settings, n.sim.Pods()) {
			if cl, err := forecast.NodeClaim(sc.Settings, s.Limits, n.sim.Pods()); err == nil {
				c.record("ipamwatch_forecast_claim_addresses", float64(cl.Worst.NodeSubnet), nl,
					Label{"subnet_id", s.SubnetID}, Label{"scenario", string(sc.Name)})
			}
		}
		for _, e := range n.sim.ENIs() {
			if e.Trunk {
				continue
			}
			eni := fmt.Sprintf("eni-%02x%05x%02x", c.spec.Seed%250, n.id, e.Seq)
			for _, st := range []struct {
				state string
				v     int
			}{{"assigned", e.Assigned}, {"free", e.Free}, {"cooldown", e.Cooldown}} {
				c.record("ipamwatch_eni_ip_addresses", float64(st.v),
					Label{"node", n.name}, Label{"eni", eni}, Label{"subnet_id", e.SubnetID}, Label{"state", st.state})
			}
		}
	}
	c.out.Used = append(c.out.Used, Sample{c.now, float64(used)})
	c.out.Free = append(c.out.Free, Sample{c.now, float64(c.subnet.Free)})
	c.out.Nodes = append(c.out.Nodes, Sample{c.now, float64(len(c.nodes))})

	// `ipamwatch subnets` polls EC2 every SubnetPoll and serves the last poll.
	polled := c.now - c.now%SubnetPoll
	free, _ := At(c.out.Free, polled)
	nodeUsed, _ := At(c.out.Used, polled)
	az, sub := Label{"availability_zone", "us-west-2a"}, Label{"subnet_id", s.SubnetID}
	c.record("ipamwatch_subnet_size_addresses", float64(s.CIDRSize), az, sub)
	c.record("ipamwatch_subnet_free_addresses", free, az, sub)
	c.record("ipamwatch_subnet_used_addresses", nodeUsed, az, sub, Label{"holder", "cluster_node"})
	c.record("ipamwatch_subnet_used_addresses", float64(s.OtherUsed), az, sub, Label{"holder", "load_balancer"})
}

func (c *cluster) record(name string, v float64, labels ...Label) {
	ls := append([]Label(nil), labels...)
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	s := &Series{Name: name, Labels: ls}
	k := seriesKey(s)
	if old, ok := c.rec[k]; ok {
		s = old
	} else {
		c.rec[k] = s
	}
	s.Samples = append(s.Samples, Sample{c.now, v})
}

func seriesKey(s *Series) string {
	k := s.Name + "{"
	for _, l := range s.Labels {
		k += l.Name + "=" + fmt.Sprintf("%q", l.Value) + ","
	}
	return k + "}"
}

// At returns the value of samples at t (the last sample at or before t).
func At(samples []Sample, t time.Duration) (float64, bool) {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].At > t })
	if i == 0 {
		return 0, false
	}
	return samples[i-1].Value, true
}
