// Package ipamdsim is a brute-force model of one node's ipamd (amazon-vpc-cni-k8s v1.23.0,
// IPv4, default network card): ENIs with their secondary IPs or /28 prefixes, each address
// assigned to a pod or free (with its cooldown), and the pool manager's loop run every five
// simulated seconds with the same decisions ipamd makes: pool too low, too high, extra ENIs.
// EC2 is a subnet counter that refuses what it cannot give whole.
//
// It exists to check package forecast's arithmetic: the tests step pods up and down through
// it and compare what the node ends up holding with forecast.NodeClaim, and let nodes join a
// subnet until it is full to check the what-if headroom. It is written from ipamd's behaviour,
// function by function, not from its code, and keeps ipamd's randomness (Go map order decides
// which ENI and prefix a pod lands on and which ENI is freed) behind a seeded source.
package ipamdsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
)

// Timing of ipamd v1.23.0 (pkg/ipamd/ipamd.go, pkg/ipamd/datastore/data_store.go).
const (
	// LoopInterval is ipPoolMonitorInterval: StartNodeIPPoolManager runs
	// updateIPPoolIfRequired once per interval.
	LoopInterval = 5 * time.Second
	// cooldown is IP_COOLDOWN_PERIOD's default: a released address is not handed out again,
	// and keeps its ENI, for this long. The same as collectors/ipamd.DefaultCooldown, written
	// again because the forecast model imports no collector.
	cooldown = 30 * time.Second
	// minENILifeTime: a younger ENI is never freed (ENI.isTooYoung).
	minENILifeTime = time.Minute
	// decreaseInterval is decreaseIPPoolInterval: at most one pool decrease per interval.
	decreaseInterval = 30 * time.Second
	// insufficientCooldown is insufficientCidrErrorCooldown: after EC2 says the subnet is
	// full, increaseDatastorePool waits this long.
	insufficientCooldown = 120 * time.Second
)

// ErrSubnetFull is returned when EC2 cannot give the addresses asked for.
var ErrSubnetFull = errors.New("InsufficientFreeAddressesInSubnet")

// Subnet is EC2's side: free addresses and free aligned /28 blocks. A single address is taken
// from space outside the free blocks first and breaks a block only when there is none (EC2's
// placement is not documented; this is the optimistic reading, and the headroom uses the same).
type Subnet struct {
	ID         string
	Free       int
	FreeBlocks int
	// Refusals counts requests EC2 refused for lack of addresses or blocks.
	Refusals int
}

// NewSubnet returns a subnet with free addresses, of which blocks whole /28s.
func NewSubnet(id string, free, blocks int) (*Subnet, error) {
	if free < 0 || blocks < 0 || blocks*forecast.AddressesPerPrefix > free {
		return nil, fmt.Errorf("subnet %s: %d free /28 blocks do not fit in %d free addresses", id, blocks, free)
	}
	return &Subnet{ID: id, Free: free, FreeBlocks: blocks}, nil
}

func (s *Subnet) takeSingles(n int) error {
	if n > s.Free {
		s.Refusals++
		return ErrSubnetFull
	}
	loose := s.Free - forecast.AddressesPerPrefix*s.FreeBlocks
	if n > loose {
		s.FreeBlocks -= ceilDiv(n-loose, forecast.AddressesPerPrefix)
	}
	s.Free -= n
	return nil
}

func (s *Subnet) takePrefixes(n int) error {
	if n > s.FreeBlocks {
		s.Refusals++
		return ErrSubnetFull
	}
	s.FreeBlocks -= n
	s.Free -= forecast.AddressesPerPrefix * n
	return nil
}

func (s *Subnet) release(singles, prefixes int) {
	s.Free += singles + forecast.AddressesPerPrefix*prefixes
	s.FreeBlocks += prefixes
}

type address struct {
	pod      int // 0 = not assigned
	freedAt  time.Duration
	wasFreed bool
}

type cidr struct {
	prefix bool
	addrs  []*address // 1 for a secondary IP, 16 for a prefix
}

func (c *cidr) assigned() int {
	n := 0
	for _, a := range c.addrs {
		if a.pod != 0 {
			n++
		}
	}
	return n
}

type eni struct {
	seq     int // creation order on the node, for stable ids
	primary bool
	trunk   bool
	created time.Duration
	subnet  *Subnet
	cidrs   []*cidr
}

func (e *eni) assigned() int {
	n := 0
	for _, c := range e.cidrs {
		n += c.assigned()
	}
	return n
}

// release gives every address of e back to its subnet: the primary address, each single
// address and each prefix.
func (e *eni) release() {
	singles, prefixes := 1, 0
	for _, c := range e.cidrs {
		if c.prefix {
			prefixes++
		} else {
			singles++
		}
	}
	e.subnet.release(singles, prefixes)
}

// Node is one simulated node.
type Node struct {
	s    forecast.Settings
	l    forecast.Limits
	rng  *rand.Rand
	now  time.Duration
	enis []*eni

	nodeSubnet, podSubnet *Subnet

	lastDecrease     time.Duration
	decreased        bool
	lastInsufficient time.Duration
	insufficient     bool

	pods    map[int]*address
	podList []int       // the keys of pods, for a reproducible random pick
	podIdx  map[int]int // pod id -> index in podList
	nextPod int
	nextENI int

	perENI int // slots per ENI
	size   int // addresses per slot
	maxENI int
}

// Launch starts a node: the instance takes its primary address from nodeSubnet (ErrSubnetFull
// if there is none: the instance cannot launch), the trunk ENI one more when ENABLE_POD_ENI is
// set, then ipamd's nodeInit grows the pool once (handlePreScaling). podSubnet is the
// ENIConfig's subnet under custom networking and ignored otherwise.
func Launch(s forecast.Settings, l forecast.Limits, nodeSubnet, podSubnet *Subnet, seed uint64) (*Node, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		s: s, l: l, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodeSubnet: nodeSubnet, podSubnet: nodeSubnet,
		pods: map[int]*address{}, podIdx: map[int]int{}, perENI: l.IPv4PerENI - 1, size: 1, maxENI: l.ENIs,
	}
	if s.CustomNetworking {
		if podSubnet == nil {
			return nil, errors.New("custom networking needs the ENIConfig's subnet")
		}
		n.podSubnet = podSubnet
	}
	if s.PrefixDelegation {
		n.size = forecast.AddressesPerPrefix
	}
	if s.MaxENI >= 1 && s.MaxENI < n.maxENI {
		n.maxENI = s.MaxENI
	}
	if err := nodeSubnet.takeSingles(1); err != nil {
		return nil, fmt.Errorf("launching the instance: %w", err)
	}
	n.enis = append(n.enis, &eni{seq: n.newENISeq(), primary: true, subnet: nodeSubnet, created: -time.Hour})
	// tryEnableSecurityGroupsForPods: the resource controller attaches the trunk only while
	// an ENI slot is free.
	if s.PodENI && len(n.enis) < n.maxENI {
		if err := n.podSubnet.takeSingles(1); err != nil {
			return nil, fmt.Errorf("attaching the trunk ENI: %w", err)
		}
		n.enis = append(n.enis, &eni{seq: n.newENISeq(), trunk: true, subnet: n.podSubnet, created: -time.Hour})
	}
	// handlePreScaling.
	if st := n.stats(); n.poolTooLow(st) {
		n.increasePool()
	}
	return n, nil
}

func (n *Node) newENISeq() int {
	n.nextENI++
	return n.nextENI - 1
}

// ENIState is one ENI as ipamd's introspection would show it.
type ENIState struct {
	// Seq numbers the node's ENIs in creation order (0 = the primary ENI).
	Seq      int
	SubnetID string
	Primary  bool
	Trunk    bool
	// Pod addresses on the ENI: assigned to pods, free, cooling down after a pod left.
	Assigned, Free, Cooldown int
}

// ENIs lists the node's ENIs in creation order.
func (n *Node) ENIs() []ENIState {
	out := make([]ENIState, 0, len(n.enis))
	for _, e := range n.enis {
		st := ENIState{Seq: e.seq, SubnetID: e.subnet.ID, Primary: e.primary, Trunk: e.trunk}
		for _, c := range e.cidrs {
			for _, a := range c.addrs {
				switch {
				case a.pod != 0:
					st.Assigned++
				case n.cooling(a):
					st.Cooldown++
				default:
					st.Free++
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// Now is the node's clock.
func (n *Node) Now() time.Duration { return n.now }

// Tick advances one pool-manager interval and runs updateIPPoolIfRequired.
func (n *Node) Tick() {
	n.now += LoopInterval
	st := n.stats()
	scaledDown := false
	if n.poolTooLow(st) {
		n.increasePool()
	} else if n.poolTooHigh(st) && !n.decreaseTooSoon() {
		scaledDown = true
		n.decreasePool()
	}
	// shouldRemoveExtraENIs looks at the stats taken before this round's increase.
	if n.shouldRemoveExtraENIs(st) {
		n.tryFreeENI()
	}
	if scaledDown {
		n.lastDecrease, n.decreased = n.now, true
	}
}

// decreaseTooSoon is shouldSkipDataStorePoolDecrease: one decrease per decreaseInterval.
func (n *Node) decreaseTooSoon() bool {
	return n.decreased && n.now-n.lastDecrease <= decreaseInterval
}

// cooling is AddressInfo.inCoolingPeriod: released less than the cooldown ago.
func (n *Node) cooling(a *address) bool { return a.wasFreed && n.now-a.freedAt <= cooldown }

// AddPod gives a new pod an address the way DataStore.AssignPodIPv4Address does: ENIs in
// random order, each ENI's CIDRs in random order, the first address neither assigned nor
// cooling down. It returns the pod's id, or false when the datastore has no address.
func (n *Node) AddPod() (int, bool) {
	for _, e := range shuffled(n.rng, n.enis) {
		if e.trunk {
			continue
		}
		for _, c := range shuffled(n.rng, e.cidrs) {
			if c.prefix != (n.size > 1) {
				continue
			}
			for _, a := range c.addrs {
				if a.pod == 0 && !n.cooling(a) {
					n.nextPod++
					a.pod = n.nextPod
					n.pods[n.nextPod] = a
					n.podIdx[n.nextPod] = len(n.podList)
					n.podList = append(n.podList, n.nextPod)
					return n.nextPod, true
				}
			}
		}
	}
	return 0, false
}

// RemovePod releases a pod's address; it cools down before reuse.
func (n *Node) RemovePod(id int) {
	a, ok := n.pods[id]
	if !ok {
		return
	}
	delete(n.pods, id)
	i := n.podIdx[id]
	last := n.podList[len(n.podList)-1]
	n.podList[i], n.podIdx[last] = last, i
	n.podList = n.podList[:len(n.podList)-1]
	delete(n.podIdx, id)
	a.pod, a.freedAt, a.wasFreed = 0, n.now, true
}

// RemoveRandomPod removes a pod picked with the node's seeded source; false if none runs.
func (n *Node) RemoveRandomPod() bool {
	if len(n.podList) == 0 {
		return false
	}
	n.RemovePod(n.podList[n.rng.IntN(len(n.podList))])
	return true
}

// Pods is how many pods hold an address.
func (n *Node) Pods() int { return len(n.pods) }

// State is what the node holds now.
type State struct {
	ENIs         int // managed ENIs, the trunk not counted
	Slots        int
	PodAddresses int
	Assigned     int
	// Held is the addresses held per subnet id: ENI primaries, secondary IPs, 16 per prefix.
	Held map[string]int
}

// State reports what the node holds.
func (n *Node) State() State {
	st := State{Held: map[string]int{}, Assigned: len(n.pods)}
	for _, e := range n.enis {
		held := 1
		for _, c := range e.cidrs {
			held += len(c.addrs)
			if !e.trunk {
				st.Slots++
				st.PodAddresses += len(c.addrs)
			}
		}
		st.Held[e.subnet.ID] += held
		if !e.trunk {
			st.ENIs++
		}
	}
	return st
}

// Terminate gives every address of the node back to its subnet.
func (n *Node) Terminate() {
	for _, e := range n.enis {
		e.release()
	}
	n.enis = nil
	n.pods, n.podIdx, n.podList = map[int]*address{}, map[int]int{}, nil
}

// stats is DataStore.GetIPStats for IPv4: CIDRs of the running mode on non-trunk ENIs.
type stats struct {
	total, assigned, prefixes int
}

func (s stats) available() int { return s.total - s.assigned }

func (n *Node) stats() stats {
	var st stats
	for _, e := range n.enis {
		for _, c := range e.cidrs {
			if c.prefix != (n.size > 1) {
				continue
			}
			st.total += len(c.addrs)
			st.assigned += c.assigned()
			if c.prefix {
				st.prefixes++
			}
		}
	}
	return st
}

// freePrefixes is DataStore.GetFreePrefixes: prefixes no pod uses (cooling addresses count as free).
func (n *Node) freePrefixes() int {
	f := 0
	for _, e := range n.enis {
		for _, c := range e.cidrs {
			if c.prefix && c.assigned() == 0 {
				f++
			}
		}
	}
	return f
}

func (n *Node) ipTargets() bool { return n.s.WarmIPTarget != 0 || n.s.MinimumIPTarget != 0 }

// targetState is datastoreTargetState: how far the pool is below or above the IP targets, in
// IPs, or in prefixes under prefix delegation.
func (n *Node) targetState(st stats) (short, over int) {
	w, m := n.s.WarmIPTarget, n.s.MinimumIPTarget
	avail := st.available()
	short = max(w-avail, 0)
	short = max(short, m-st.total)
	over = max(avail-w, 0)
	over = max(min(over, st.total-m), 0)
	if n.size == 1 {
		return short, over
	}
	p := forecast.AddressesPerPrefix
	shortPfx := ceilDiv(short, p)
	forWarm := ceilDiv(st.assigned+w, p)
	forMin := ceilDiv(m, p)
	overPfx := max(min(n.freePrefixes(), st.prefixes-forWarm), 0)
	overPfx = max(min(overPfx, st.prefixes-forMin), 0)
	return shortPfx, overPfx
}

// poolTooLow is isDatastorePoolTooLow for the default network card.
func (n *Node) poolTooLow(st stats) bool {
	if st.total >= n.l.MaxPods {
		return false
	}
	if n.ipTargets() {
		short, _ := n.targetState(st)
		return short > 0
	}
	warm, per := n.s.WarmENITarget, n.perENI
	if n.size > 1 {
		warm, per = n.s.WarmPrefixTarget, forecast.AddressesPerPrefix
	}
	avail := st.available()
	return avail < per*warm || (warm == 0 && avail == 0)
}

// poolTooHigh is isDatastorePoolTooHigh.
func (n *Node) poolTooHigh(st stats) bool {
	if n.ipTargets() {
		_, over := n.targetState(st)
		return over > 0
	}
	if n.size > 1 { // warmPrefixTargetDefined: any target >= 0 under prefix delegation
		return n.freePrefixes() > n.s.WarmPrefixTarget
	}
	return false
}

// prefixesNeeded is getPrefixesNeeded: at least one; the IP targets' shortfall when set, else
// WARM_PREFIX_TARGET minus the free prefixes.
func (n *Node) prefixesNeeded() int {
	if n.ipTargets() {
		short, _ := n.targetState(n.stats())
		return max(1, short)
	}
	return max(1, n.s.WarmPrefixTarget-n.freePrefixes())
}

// increasePool is increaseDatastorePool: top up an ENI with room, else attach an ENI. With
// subnet discovery (the default) a refused top-up is not an error: the ENI attempt follows,
// and its refusal starts the insufficient-CIDR cooldown (tryAllocateENI).
func (n *Node) increasePool() {
	if n.insufficient && n.now-n.lastInsufficient <= insufficientCooldown {
		return
	}
	if n.tryAssignCidrs() || !n.hasRoomForENI() {
		return
	}
	if err := n.tryAllocateENI(); errors.Is(err, ErrSubnetFull) {
		n.lastInsufficient, n.insufficient = n.now, true
	}
}

// allocatable is GetAllocatableENIs: ENIs with room, not the trunk, not the primary under
// custom networking; in map (random) order.
func (n *Node) allocatable() []*eni {
	var out []*eni
	for _, e := range shuffled(n.rng, n.enis) {
		if e.trunk || (e.primary && n.s.CustomNetworking) {
			continue
		}
		if len(e.cidrs) < n.perENI {
			out = append(out, e)
		}
	}
	return out
}

// tryAssignCidrs is tryAssignIPs / tryAssignPrefixes: allocate on the first ENI with room; on
// a refusal ask for one; with subnet discovery a second refusal moves on to the next ENI.
func (n *Node) tryAssignCidrs() bool {
	var want int
	if n.size == 1 {
		want = n.perENI
		if n.ipTargets() {
			short, _ := n.targetState(n.stats())
			if short == 0 {
				return false
			}
			want = short
		}
	} else {
		want = n.prefixesNeeded()
	}
	for _, e := range n.allocatable() {
		k := min(n.perENI-len(e.cidrs), want)
		if err := n.attach(e, k); err != nil {
			if err := n.attach(e, 1); err != nil {
				continue
			}
		}
		return true
	}
	return false
}

// attach asks EC2 for k secondary IPs or prefixes on e, all or nothing.
func (n *Node) attach(e *eni, k int) error {
	var err error
	if n.size == 1 {
		err = e.subnet.takeSingles(k)
	} else {
		err = e.subnet.takePrefixes(k)
	}
	if err != nil {
		return err
	}
	n.addCIDRs(e, k)
	return nil
}

// addCIDRs attaches k CIDRs of the node's mode to e (/32 secondary addresses or /28
// prefixes), every address free; the subnet has already given them.
func (n *Node) addCIDRs(e *eni, k int) {
	for range k {
		c := &cidr{prefix: n.size > 1}
		for range n.size {
			c.addrs = append(c.addrs, &address{})
		}
		e.cidrs = append(e.cidrs, c)
	}
}

// hasRoomForENI: the ENIs attached (the trunk included) below the limit after MAX_ENI.
func (n *Node) hasRoomForENI() bool { return len(n.enis) < n.maxENI }

// tryAllocateENI creates an ENI in the pod subnet with GetENIResourcesToAllocate's count:
// prefix delegation min(prefixes needed, per ENI); secondary IPs a full ENI, or the IP
// targets' shortfall. CreateNetworkInterface is all or nothing: primary and secondaries.
func (n *Node) tryAllocateENI() error {
	var k int
	if n.size > 1 {
		k = min(n.prefixesNeeded(), n.perENI)
	} else {
		k = n.perENI
		if n.ipTargets() {
			short, _ := n.targetState(n.stats())
			k = min(short, n.perENI)
		}
	}
	if k <= 0 {
		return nil
	}
	s := n.podSubnet
	if n.size == 1 {
		if err := s.takeSingles(1 + k); err != nil {
			return err
		}
	} else {
		if s.FreeBlocks < k || s.Free < 1+forecast.AddressesPerPrefix*k {
			s.Refusals++
			return ErrSubnetFull
		}
		if err := s.takePrefixes(k); err != nil {
			return err
		}
		if err := s.takeSingles(1); err != nil {
			s.release(0, k)
			return err
		}
	}
	e := &eni{seq: n.newENISeq(), subnet: s, created: n.now}
	n.enis = append(n.enis, e)
	n.addCIDRs(e, k)
	return nil
}

// decreasePool is tryUnassignCidrsFromAll: free `over` CIDRs no pod uses, ENI by ENI.
func (n *Node) decreasePool() {
	var over int
	if n.ipTargets() {
		_, over = n.targetState(n.stats())
	} else if n.size > 1 {
		over = max(n.freePrefixes()-n.s.WarmPrefixTarget, 0)
	}
	for _, e := range shuffled(n.rng, n.enis) {
		if over <= 0 {
			return
		}
		kept := e.cidrs[:0]
		for _, c := range e.cidrs {
			if over > 0 && c.assigned() == 0 {
				over--
				if c.prefix {
					e.subnet.release(0, 1)
				} else {
					e.subnet.release(1, 0)
				}
				continue
			}
			kept = append(kept, c)
		}
		e.cidrs = kept
	}
}

// shouldRemoveExtraENIs: always with IP targets; else when a whole spare ENI beyond the warm
// target is available; under prefix delegation also whenever an ENI without pods exists
// (CheckFreeableENIexists).
func (n *Node) shouldRemoveExtraENIs(st stats) bool {
	if n.ipTargets() {
		return true
	}
	warm, perENI := n.s.WarmENITarget, n.perENI
	if n.size > 1 {
		warm, perENI = n.s.WarmPrefixTarget, n.perENI*forecast.AddressesPerPrefix
	}
	if st.available() >= (warm+1)*perENI {
		return true
	}
	if n.size > 1 {
		for _, e := range n.enis {
			if !e.primary && !e.trunk && e.assigned() == 0 {
				return true
			}
		}
	}
	return false
}

// tryFreeENI is RemoveUnusedENIFromStore + FreeENI: the first deletable ENI in map order.
func (n *Node) tryFreeENI() {
	for _, e := range shuffled(n.rng, n.enis) {
		if !n.deletable(e) {
			continue
		}
		e.release()
		for j, x := range n.enis {
			if x == e {
				n.enis = append(n.enis[:j], n.enis[j+1:]...)
				break
			}
		}
		return
	}
}

// deletable is getDeletableENI for one ENI.
func (n *Node) deletable(e *eni) bool {
	if e.primary || e.trunk || n.now-e.created < minENILifeTime || e.assigned() != 0 {
		return false
	}
	for _, c := range e.cidrs {
		for _, a := range c.addrs {
			if n.cooling(a) {
				return false
			}
		}
	}
	p := forecast.AddressesPerPrefix
	var otherFree, otherTotal, otherFreePfx int
	for _, o := range n.enis {
		if o == e || o.trunk {
			continue
		}
		for _, c := range o.cidrs {
			if c.assigned() == 0 {
				otherFreePfx++
			}
			if c.prefix != (n.size > 1) {
				continue
			}
			otherFree += len(c.addrs) - c.assigned()
			otherTotal += len(c.addrs)
		}
	}
	w, m := n.s.WarmIPTarget, n.s.MinimumIPTarget
	if n.size > 1 {
		w, m = ceilDiv(w, p)*p, ceilDiv(m, p)*p
	}
	if n.ipTargets() {
		if w != 0 && otherFree < w {
			return false
		}
		if m != 0 && otherTotal < m {
			return false
		}
	}
	if n.size > 1 && n.s.WarmPrefixTarget != 0 && otherFreePfx < n.s.WarmPrefixTarget {
		return false
	}
	return true
}

func shuffled[T any](rng *rand.Rand, in []T) []T {
	out := append([]T(nil), in...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
