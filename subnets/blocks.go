package subnets

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"sort"
	"time"
)

// AWS accepts IPv4 subnet sizes from /16 to /28; the bitmap covers at most 65,536 addresses.
const (
	minSubnetBits = 16
	maxSubnetBits = 28
	blockSize     = 16 // addresses in a /28, the unit of prefix delegation
	maxAnomalies  = 10
	// maxLeakedListed bounds the leaked ENIs a report names (all are counted).
	maxLeakedListed = 20
)

// LeakedENI is a detached ENI the VPC CNI created for an instance and left behind.
type LeakedENI struct {
	ID         string `json:"eni_id"`
	InstanceID string `json:"created_for_instance_id"`
	Addresses  int    `json:"addresses"`
}

// ErrNoIPv4CIDR says the subnet has no IPv4 CIDR (an IPv6-only subnet): /28 prefixes and
// IPv4 exhaustion do not apply, so the subnet is skipped with that reason.
var ErrNoIPv4CIDR = errors.New("IPv6-only subnet: no IPv4 CIDR, IPv4 /28 prefixes do not apply")

// Block states, one character per /28 in the block map.
const (
	BlockFree            = '.' // every address free: a prefix fits here
	BlockFreePrefixSpace = 'r' // free and inside a prefix reservation: only prefixes may use it
	BlockPartial         = '+' // some addresses used by single IPs, some free: fragmentation
	BlockFull            = '#' // every address used by single IPs
	BlockExplicit        = 'R' // touches an explicit reservation: never assigned automatically
	BlockPrefixHeld      = 'P' // an assigned /28 prefix
	BlockAWS             = 'A' // holds an address AWS reserves (first four, last)
)

// Input is everything the block arithmetic needs about one subnet.
type Input struct {
	Subnet       Subnet
	ENIs         []NetworkInterface // ENIs in the subnet (others are ignored with an anomaly)
	Reservations []Reservation      // the subnet's IPv4 CIDR reservations
	Cluster      Cluster
	// Now is the poll's time, for the age of detached CNI ENIs (zero: age not checked).
	Now time.Time
}

// Analysis is the block arithmetic of one subnet.
type Analysis struct {
	Subnet Subnet
	Prefix netip.Prefix

	Size             int // addresses in the CIDR
	AWSReserved      int // first four and last address
	ExplicitReserved int // addresses inside explicit reservations
	PrefixReserved   int // addresses inside prefix reservations
	Used             int // distinct addresses held by ENIs: private IPs and delegated prefixes
	// UsedBy splits Used by holder (see Holders); the values sum to Used.
	UsedBy map[string]int
	// AssignedPrefixes counts /28 blocks fully covered by delegated prefixes.
	AssignedPrefixes int
	// Free counts addresses nothing holds that automatic assignment may still hand out:
	// not AWS-reserved, not used, not explicitly reserved. Unused space of prefix
	// reservations is included (assignable as prefixes only; see FreePrefixOnly).
	Free int
	// FreePrefixOnly is the part of Free inside prefix reservations.
	FreePrefixOnly int
	// FreePrefixBlocks counts aligned /28 blocks in which every address is free.
	FreePrefixBlocks int
	// LargestFreeBlock is the size in addresses of the largest aligned free block (0 = none).
	LargestFreeBlock int
	// FragmentationRatio is (Free - 16*FreePrefixBlocks) / Free: the share of free addresses
	// that cannot form a /28. 0 when nothing is free.
	FragmentationRatio float64
	// LeakedENIs lists detached ENIs the VPC CNI created and left behind (IsLeakedCNIENI), at
	// most maxLeakedListed of them; LeakedENICount counts all, LeakedAddresses their addresses.
	LeakedENIs      []LeakedENI
	LeakedENICount  int
	LeakedAddresses int
	// Blocks holds one Block* state per /28, in address order.
	Blocks []byte
	// Anomalies lists inputs that were ignored (addresses outside the CIDR, unparsable
	// values), at most maxAnomalies of them; AnomalyCount counts all.
	Anomalies    []string
	AnomalyCount int

	cluster   Cluster // with the instances the ENI tags revealed
	enis      []NetworkInterface
	holders   []string            // holder of enis[i]
	ipHolders map[int]map[int]int // block -> ENI index -> single IPs it holds in the block
}

// bitmap is one bit per address of the subnet.
type bitmap []uint64

func newBitmap(n int) bitmap { return make(bitmap, (n+63)/64) }

// set marks address i and reports whether it was clear before.
func (b bitmap) set(i int) bool {
	w, m := i/64, uint64(1)<<(uint(i)%64)
	was := b[w]&m != 0
	b[w] |= m
	return !was
}

func (b bitmap) get(i int) bool { return b[i/64]&(uint64(1)<<(uint(i)%64)) != 0 }

// block returns the 16 bits of /28 block k (blocks never straddle a word).
func (b bitmap) block(k int) uint16 { return uint16(b[k/4] >> (uint(k%4) * 16)) }

func (b bitmap) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// subnetRange is the parsed CIDR: base address as a number and size.
type subnetRange struct {
	prefix netip.Prefix
	base   uint32
	size   int
}

func parseSubnetCIDR(cidr string) (subnetRange, error) {
	if cidr == "" {
		return subnetRange{}, ErrNoIPv4CIDR
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return subnetRange{}, fmt.Errorf("parsing subnet CIDR %q: %w", cidr, err)
	}
	if !p.Addr().Is4() {
		return subnetRange{}, fmt.Errorf("subnet CIDR %q is not IPv4", cidr)
	}
	if p.Bits() < minSubnetBits || p.Bits() > maxSubnetBits {
		return subnetRange{}, fmt.Errorf("subnet CIDR %q: prefix length /%d is outside the /%d../%d that EC2 allows", cidr, p.Bits(), minSubnetBits, maxSubnetBits)
	}
	p = p.Masked()
	return subnetRange{prefix: p, base: addrNum(p.Addr()), size: 1 << (32 - p.Bits())}, nil
}

func addrNum(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// offset returns the index of address s inside the subnet.
func (r subnetRange) offset(s string) (int, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", s, err)
	}
	a = a.Unmap()
	if !a.Is4() || !r.prefix.Contains(a) {
		return 0, fmt.Errorf("address %s is outside %s", s, r.prefix)
	}
	return int(addrNum(a) - r.base), nil
}

// span returns the [lo, hi) offsets of CIDR s clipped to the subnet; ok is false when they
// do not overlap.
func (r subnetRange) span(s string) (lo, hi int, ok bool, err error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return 0, 0, false, fmt.Errorf("CIDR %q: %w", s, err)
	}
	if !p.Addr().Unmap().Is4() {
		return 0, 0, false, fmt.Errorf("CIDR %q is not IPv4", s)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
	start := uint64(addrNum(p.Addr()))
	end := start + uint64(1)<<(32-p.Bits()) // exclusive
	sStart, sEnd := uint64(r.base), uint64(r.base)+uint64(r.size)
	if end <= sStart || start >= sEnd {
		return 0, 0, false, nil
	}
	start, end = max(start, sStart), min(end, sEnd)
	return int(start - sStart), int(end - sStart), true, nil
}

// Analyze computes the address and /28 block picture of one subnet. It returns
// ErrNoIPv4CIDR for IPv6-only subnets and an error for a CIDR EC2 could not have produced;
// bad ENI addresses or reservations are skipped and listed in Anomalies.
func Analyze(in Input) (*Analysis, error) {
	r, err := parseSubnetCIDR(in.Subnet.CIDR)
	if err != nil {
		return nil, err
	}
	a := &Analysis{
		Subnet:    in.Subnet,
		Prefix:    r.prefix,
		Size:      r.size,
		UsedBy:    make(map[string]int, len(holderOrder)),
		enis:      in.ENIs,
		holders:   make([]string, len(in.ENIs)),
		ipHolders: make(map[int]map[int]int),
	}
	for _, h := range holderOrder {
		a.UsedBy[h] = 0
	}
	anomaly := func(format string, args ...any) {
		a.AnomalyCount++
		if len(a.Anomalies) < maxAnomalies {
			a.Anomalies = append(a.Anomalies, fmt.Sprintf(format, args...))
		}
	}

	aws, explicit, prefixRes := newBitmap(r.size), newBitmap(r.size), newBitmap(r.size)
	used, prefixUsed := newBitmap(r.size), newBitmap(r.size)
	for _, i := range []int{0, 1, 2, 3, r.size - 1} {
		aws.set(i)
	}

	for _, res := range in.Reservations {
		lo, hi, ok, err := r.span(res.CIDR)
		if err != nil {
			anomaly("reservation %s: %v", res.ID, err)
			continue
		}
		if !ok {
			anomaly("reservation %s: %s is outside %s", res.ID, res.CIDR, r.prefix)
			continue
		}
		var target bitmap
		switch res.Type {
		case ReservationExplicit:
			target = explicit
		case ReservationPrefix:
			target = prefixRes
		default:
			anomaly("reservation %s: unknown type %q", res.ID, res.Type)
			continue
		}
		for i := lo; i < hi; i++ {
			target.set(i)
		}
	}

	cluster := in.Cluster.WithENITags(in.ENIs)
	a.cluster = cluster
	for ei, e := range in.ENIs {
		h := HolderOf(e, cluster)
		a.holders[ei] = h
		if IsLeakedCNIENI(e, in.Now) {
			a.LeakedENICount++
			n := len(e.PrivateIPs) + blockSize*len(e.Prefixes)
			a.LeakedAddresses += n
			if len(a.LeakedENIs) < maxLeakedListed {
				a.LeakedENIs = append(a.LeakedENIs, LeakedENI{ID: e.ID, InstanceID: e.Tags[tagCNIInstanceID], Addresses: n})
			}
		}
		if e.SubnetID != "" && in.Subnet.ID != "" && e.SubnetID != in.Subnet.ID {
			anomaly("ENI %s is in %s, not %s", e.ID, e.SubnetID, in.Subnet.ID)
			continue
		}
		mark := func(i int, viaPrefix bool) {
			if aws.get(i) {
				anomaly("ENI %s holds AWS-reserved address #%d of %s", e.ID, i, r.prefix)
				return
			}
			if used.set(i) {
				a.UsedBy[h]++
			}
			if viaPrefix {
				prefixUsed.set(i)
				return
			}
			blk := i / blockSize
			if a.ipHolders[blk] == nil {
				a.ipHolders[blk] = make(map[int]int)
			}
			a.ipHolders[blk][ei]++
		}
		for _, ip := range e.PrivateIPs {
			i, err := r.offset(ip)
			if err != nil {
				anomaly("ENI %s: %v", e.ID, err)
				continue
			}
			mark(i, false)
		}
		for _, p := range e.Prefixes {
			lo, hi, ok, err := r.span(p)
			if err != nil || !ok {
				if err == nil {
					err = fmt.Errorf("prefix %s is outside %s", p, r.prefix)
				}
				anomaly("ENI %s: %v", e.ID, err)
				continue
			}
			for i := lo; i < hi; i++ {
				mark(i, true)
			}
		}
	}

	a.AWSReserved = aws.count()
	a.Used = used.count()
	// Counted on the addresses AWS does not reserve, so that
	// Size = AWSReserved + Used + (explicit and unused) + Free.
	free := newBitmap(r.size)
	for w := range free {
		free[w] = ^(aws[w] | used[w] | explicit[w])
		a.ExplicitReserved += bits.OnesCount64(explicit[w] &^ aws[w])
		a.PrefixReserved += bits.OnesCount64(prefixRes[w] &^ aws[w] &^ explicit[w])
		a.FreePrefixOnly += bits.OnesCount64(free[w] & prefixRes[w])
	}
	if r.size < 64 { // clear the bits past the end of a /27 or /28
		free[0] &= uint64(1)<<uint(r.size) - 1
	}
	a.Free = free.count()

	nBlocks := r.size / blockSize
	a.Blocks = make([]byte, nBlocks)
	for k := range nBlocks {
		u, f := used.block(k), free.block(k)
		switch {
		case aws.block(k) != 0:
			a.Blocks[k] = BlockAWS
		case prefixUsed.block(k) == 0xFFFF:
			a.Blocks[k] = BlockPrefixHeld
			a.AssignedPrefixes++
		case explicit.block(k) != 0:
			a.Blocks[k] = BlockExplicit
		case f == 0xFFFF:
			a.FreePrefixBlocks++
			if prefixRes.block(k) != 0 {
				a.Blocks[k] = BlockFreePrefixSpace
			} else {
				a.Blocks[k] = BlockFree
			}
		case u == 0xFFFF:
			a.Blocks[k] = BlockFull
		default:
			a.Blocks[k] = BlockPartial
		}
	}
	a.LargestFreeBlock = largestAlignedRun(free, r.size)
	if a.Free > 0 {
		a.FragmentationRatio = float64(a.Free-blockSize*a.FreePrefixBlocks) / float64(a.Free)
	}
	return a, nil
}

// largestAlignedRun returns the size of the largest aligned power-of-two block whose bits
// are all set in b (0 when no bit is set), halving the resolution level by level.
func largestAlignedRun(b bitmap, size int) int {
	level := make([]bool, size)
	someFree := false
	for i := range size {
		level[i] = b.get(i)
		someFree = someFree || level[i]
	}
	if !someFree {
		return 0
	}
	best := 1
	for width := 2; width <= size; width *= 2 {
		next := level[:len(level)/2]
		found := false
		for i := range next {
			next[i] = level[2*i] && level[2*i+1]
			found = found || next[i]
		}
		if !found {
			break
		}
		best, level = width, next
	}
	return best
}

// SubnetSummary is the small view of one subnet that the diagnosis needs: are there free
// addresses, and do any of them form an aligned /28?
type SubnetSummary struct {
	SubnetID           string  `json:"subnet_id"`
	AvailabilityZone   string  `json:"availability_zone"`
	Size               int     `json:"size"`
	FreeAddresses      int     `json:"free_addresses"`
	FreePrefixBlocks   int     `json:"free_prefix_blocks"`
	LargestFreeBlock   int     `json:"largest_free_block_addresses"`
	FragmentationRatio float64 `json:"fragmentation_ratio"`
}

// Summarize reduces an analysis to a SubnetSummary.
func Summarize(a *Analysis) SubnetSummary {
	return SubnetSummary{
		SubnetID:           a.Subnet.ID,
		AvailabilityZone:   a.Subnet.AvailabilityZone,
		Size:               a.Size,
		FreeAddresses:      a.Free,
		FreePrefixBlocks:   a.FreePrefixBlocks,
		LargestFreeBlock:   a.LargestFreeBlock,
		FragmentationRatio: a.FragmentationRatio,
	}
}

// Recommendation names one cluster node whose removal (drain, then replace) would free
// whole /28 blocks that it alone holds a few single addresses in.
type Recommendation struct {
	InstanceID    string   `json:"instance_id"`
	NodeName      string   `json:"node_name,omitempty"`
	ENIs          []string `json:"enis"`
	BlocksFreed   int      `json:"blocks_freed"`
	AddressesHeld int      `json:"addresses_held"` // single addresses it holds in those blocks
}

// Recommend lists up to limit cluster nodes to drain, best first: those that free the most
// /28 blocks for the fewest addresses. A block counts when it is neither AWS-reserved,
// explicitly reserved nor a prefix, and every address held in it is a single IP of ENIs
// of that one cluster node, so replacing the node frees the whole block.
func Recommend(a *Analysis, limit int) []Recommendation {
	byInstance := map[string]*Recommendation{}
	eniSets := map[string]map[string]bool{}
	for blk, holders := range a.ipHolders {
		if a.Blocks[blk] != BlockPartial && a.Blocks[blk] != BlockFull {
			continue
		}
		instance, n, ok := "", 0, true
		for ei, cnt := range holders {
			e := a.enis[ei]
			if a.holders[ei] != HolderClusterNode || (instance != "" && e.InstanceID != instance) {
				ok = false
				break
			}
			instance = e.InstanceID
			n += cnt
		}
		if !ok || instance == "" {
			continue
		}
		rec := byInstance[instance]
		if rec == nil {
			rec = &Recommendation{InstanceID: instance, NodeName: a.cluster.Nodes[instance]}
			byInstance[instance] = rec
			eniSets[instance] = map[string]bool{}
		}
		rec.BlocksFreed++
		rec.AddressesHeld += n
		for ei := range holders {
			eniSets[instance][a.enis[ei].ID] = true
		}
	}
	out := make([]Recommendation, 0, len(byInstance))
	for id, rec := range byInstance {
		for eni := range eniSets[id] {
			rec.ENIs = append(rec.ENIs, eni)
		}
		sort.Strings(rec.ENIs)
		out = append(out, *rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BlocksFreed != out[j].BlocksFreed {
			return out[i].BlocksFreed > out[j].BlocksFreed
		}
		if out[i].AddressesHeld != out[j].AddressesHeld {
			return out[i].AddressesHeld < out[j].AddressesHeld
		}
		return out[i].InstanceID < out[j].InstanceID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
