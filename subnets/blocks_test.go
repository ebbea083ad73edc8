package subnets

import (
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAnalyzeExamples(t *testing.T) {
	t.Parallel()
	node := Cluster{Name: "prod", Nodes: map[string]string{"i-node1": "ip-10-0-0-10"}}
	tests := []struct {
		name string
		in   Input
		want SubnetSummary
		// blocks is the expected block map; empty = not checked.
		blocks string
		used   map[string]int
	}{
		{
			name: "empty /24",
			in:   Input{Subnet: Subnet{ID: "subnet-a", CIDR: "10.0.0.0/24"}},
			// 0..3 and 255 are AWS's: 251 free; blocks 0 and 15 are never whole; 64..191 is
			// the largest aligned free run of 64 (0..127 and 128..255 hold AWS addresses).
			want:   SubnetSummary{SubnetID: "subnet-a", Size: 256, FreeAddresses: 251, FreePrefixBlocks: 14, LargestFreeBlock: 64, FragmentationRatio: 27.0 / 251},
			blocks: "A..............A",
		},
		{
			name: "/28 subnet never has a free prefix",
			in:   Input{Subnet: Subnet{ID: "subnet-b", CIDR: "10.0.1.0/28"}},
			want: SubnetSummary{SubnetID: "subnet-b", Size: 16, FreeAddresses: 11, LargestFreeBlock: 4, FragmentationRatio: 1},
			// 4..7 and 8..11 are aligned runs of 4; 12..14 is not.
			blocks: "A",
		},
		{
			name: "one IP per block fragments a /26",
			in: Input{
				Subnet:  Subnet{ID: "subnet-c", CIDR: "10.0.2.0/26"},
				Cluster: node,
				ENIs: []NetworkInterface{{
					ID: "eni-1", InterfaceType: "interface", InstanceID: "i-node1",
					PrivateIPs: []string{"10.0.2.20", "10.0.2.37"},
				}},
			},
			// blocks: 0 AWS, 1 partial (20), 2 partial (37), 3 AWS (63)
			want:   SubnetSummary{SubnetID: "subnet-c", Size: 64, FreeAddresses: 57, FreePrefixBlocks: 0, LargestFreeBlock: 8, FragmentationRatio: 1},
			blocks: "A++A",
			used:   map[string]int{HolderClusterNode: 2},
		},
		{
			name: "prefixes, reservations and other holders",
			in: Input{
				Subnet:  Subnet{ID: "subnet-d", CIDR: "10.1.0.0/24"},
				Cluster: Cluster{Name: "prod"},
				ENIs: []NetworkInterface{
					{ID: "eni-node", InterfaceType: "interface", InstanceID: "i-x", Tags: map[string]string{tagCNIClusterName: "prod"},
						PrivateIPs: []string{"10.1.0.4"}, Prefixes: []string{"10.1.0.16/28", "10.1.0.32/28"}},
					{ID: "eni-primary", InterfaceType: "interface", InstanceID: "i-x", PrivateIPs: []string{"10.1.0.5"}},
					{ID: "eni-nat", InterfaceType: "natGateway", PrivateIPs: []string{"10.1.0.50"}},
					{ID: "eni-lambda", InterfaceType: "lambda", PrivateIPs: []string{"10.1.0.51", "10.1.0.52"}},
				},
				Reservations: []Reservation{
					{ID: "scr-1", CIDR: "10.1.0.64/27", Type: ReservationPrefix},
					{ID: "scr-2", CIDR: "10.1.0.100/30", Type: ReservationExplicit},
				},
			},
			// block 6 (96..111) touches the explicit reservation; 4 and 5 are prefix space.
			want:   SubnetSummary{SubnetID: "subnet-d", Size: 256, FreeAddresses: 256 - 5 - 37 - 4, FreePrefixBlocks: 10, LargestFreeBlock: 64, FragmentationRatio: float64(210-160) / 210},
			blocks: "APP+rrR........A",
			used:   map[string]int{HolderClusterNode: 34, HolderNATGateway: 1, HolderLambda: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := Analyze(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, Summarize(a)); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if tc.blocks != "" && string(a.Blocks) != tc.blocks {
				t.Errorf("blocks = %q, want %q", a.Blocks, tc.blocks)
			}
			for h, n := range tc.used {
				if a.UsedBy[h] != n {
					t.Errorf("UsedBy[%s] = %d, want %d", h, a.UsedBy[h], n)
				}
			}
		})
	}
}

func TestAnalyzeRejects(t *testing.T) {
	t.Parallel()
	for _, cidr := range []string{"", "10.0.0.0/15", "10.0.0.0/29", "not-a-cidr", "2001:db8::/64"} {
		_, err := Analyze(Input{Subnet: Subnet{ID: "s", CIDR: cidr}})
		if err == nil {
			t.Errorf("Analyze(%q) succeeded, want an error", cidr)
		}
		if cidr == "" && !errors.Is(err, ErrNoIPv4CIDR) {
			t.Errorf("Analyze(\"\") = %v, want ErrNoIPv4CIDR", err)
		}
	}
}

func TestRecommend(t *testing.T) {
	t.Parallel()
	in := Input{
		Subnet:  Subnet{ID: "subnet-r", CIDR: "10.2.0.0/24"},
		Cluster: Cluster{Name: "prod", Nodes: map[string]string{"i-a": "node-a", "i-b": "node-b"}},
		ENIs: []NetworkInterface{
			// i-a alone holds one address in blocks 1 and 2: draining it frees two /28s.
			{ID: "eni-a", InterfaceType: "interface", InstanceID: "i-a", PrivateIPs: []string{"10.2.0.17", "10.2.0.33"}},
			// i-b shares block 3 with a NAT gateway: nothing to gain there; alone in block 4.
			{ID: "eni-b", InterfaceType: "interface", InstanceID: "i-b", PrivateIPs: []string{"10.2.0.49", "10.2.0.65", "10.2.0.66"}},
			{ID: "eni-nat", InterfaceType: "natGateway", PrivateIPs: []string{"10.2.0.50"}},
			// an instance outside the cluster is never recommended.
			{ID: "eni-o", InterfaceType: "interface", InstanceID: "i-other", PrivateIPs: []string{"10.2.0.81"}},
		},
	}
	a, err := Analyze(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Recommendation{
		{InstanceID: "i-a", NodeName: "node-a", ENIs: []string{"eni-a"}, BlocksFreed: 2, AddressesHeld: 2},
		{InstanceID: "i-b", NodeName: "node-b", ENIs: []string{"eni-b"}, BlocksFreed: 1, AddressesHeld: 2},
	}
	if diff := cmp.Diff(want, Recommend(a, 10)); diff != "" {
		t.Errorf("Recommend (-want +got):\n%s", diff)
	}
	if got := Recommend(a, 1); len(got) != 1 || got[0].InstanceID != "i-a" {
		t.Errorf("Recommend(limit 1) = %+v", got)
	}
}

// reference recomputes an analysis address by address, with maps and netip only: slow and
// obviously right, to check the bitmap arithmetic against.
type reference struct {
	size, aws, explicitRes, prefixRes, used, free, freePrefixOnly int
	freeBlocks, largest, assignedPrefixes                         int
	usedBy                                                        map[string]int
	blocks                                                        string
}

func bruteForce(t *testing.T, in Input) reference {
	t.Helper()
	p := netip.MustParsePrefix(in.Subnet.CIDR).Masked()
	var addrs []netip.Addr
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		addrs = append(addrs, a)
	}
	n := len(addrs)
	isAWS := func(i int) bool { return i < 4 || i == n-1 }
	inRes := func(i int, typ string) bool {
		for _, r := range in.Reservations {
			rp, err := netip.ParsePrefix(r.CIDR)
			if err == nil && r.Type == typ && rp.Masked().Contains(addrs[i]) {
				return true
			}
		}
		return false
	}
	cluster := in.Cluster.WithENITags(in.ENIs)
	holderAt := map[int]string{}
	viaPrefix := map[int]bool{}
	for _, e := range in.ENIs {
		if e.SubnetID != "" && e.SubnetID != in.Subnet.ID {
			continue
		}
		h := HolderOf(e, cluster)
		for i, a := range addrs {
			hit, pre := false, false
			for _, ip := range e.PrivateIPs {
				if x, err := netip.ParseAddr(ip); err == nil && x == a {
					hit = true
				}
			}
			for _, pf := range e.Prefixes {
				if x, err := netip.ParsePrefix(pf); err == nil && x.Masked().Contains(a) {
					hit, pre = true, true
				}
			}
			if !hit || isAWS(i) {
				continue
			}
			if _, ok := holderAt[i]; !ok {
				holderAt[i] = h
			}
			if pre {
				viaPrefix[i] = true
			}
		}
	}
	ref := reference{size: n, usedBy: map[string]int{}}
	for _, h := range Holders() {
		ref.usedBy[h] = 0
	}
	freeAt := make([]bool, n)
	for i := range addrs {
		_, used := holderAt[i]
		exp, pre := inRes(i, ReservationExplicit), inRes(i, ReservationPrefix)
		switch {
		case isAWS(i):
			ref.aws++
			continue
		case exp:
			ref.explicitRes++
		case pre:
			ref.prefixRes++
		}
		if used {
			ref.used++
			ref.usedBy[holderAt[i]]++
		}
		if !used && !exp {
			freeAt[i] = true
			ref.free++
			if pre {
				ref.freePrefixOnly++
			}
		}
	}
	allOf := func(lo, hi int, f func(int) bool) bool {
		for i := lo; i < hi; i++ {
			if !f(i) {
				return false
			}
		}
		return true
	}
	anyOf := func(lo, hi int, f func(int) bool) bool { return !allOf(lo, hi, func(i int) bool { return !f(i) }) }
	var sb strings.Builder
	for lo := 0; lo < n; lo += 16 {
		hi := lo + 16
		used := func(i int) bool { _, ok := holderAt[i]; return ok }
		switch {
		case anyOf(lo, hi, isAWS):
			sb.WriteByte('A')
		case allOf(lo, hi, func(i int) bool { return viaPrefix[i] }):
			sb.WriteByte('P')
			ref.assignedPrefixes++
		case anyOf(lo, hi, func(i int) bool { return inRes(i, ReservationExplicit) }):
			sb.WriteByte('R')
		case allOf(lo, hi, func(i int) bool { return freeAt[i] }):
			ref.freeBlocks++
			if anyOf(lo, hi, func(i int) bool { return inRes(i, ReservationPrefix) }) {
				sb.WriteByte('r')
			} else {
				sb.WriteByte('.')
			}
		case allOf(lo, hi, used):
			sb.WriteByte('#')
		default:
			sb.WriteByte('+')
		}
	}
	ref.blocks = sb.String()
	for width := n; width >= 1 && ref.largest == 0; width /= 2 {
		for lo := 0; lo < n; lo += width {
			if allOf(lo, lo+width, func(i int) bool { return freeAt[i] }) {
				ref.largest = width
				break
			}
		}
	}
	return ref
}

func randomInput(rng *rand.Rand, maxBits int) Input {
	bitsLen := maxBits + rng.Intn(maxSubnetBits-maxBits+1)
	base := netip.AddrFrom4([4]byte{10, byte(rng.Intn(256)), byte(rng.Intn(256)), byte(rng.Intn(256))})
	p := netip.PrefixFrom(base, bitsLen).Masked()
	size := 1 << (32 - bitsLen)
	addrAt := func(i int) netip.Addr {
		a := p.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + uint32(i)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	in := Input{
		Subnet:  Subnet{ID: "subnet-rand", CIDR: p.String()},
		Cluster: Cluster{Name: "c1", Nodes: map[string]string{"i-1": "n1"}},
	}
	types := []string{"interface", "interface", "interface", "branch", "trunk", "natGateway", "lambda", "vpc_endpoint", "quicksight", "efa"}
	for e := range rng.Intn(12) {
		eni := NetworkInterface{
			ID:            fmt.Sprintf("eni-%d", e),
			InterfaceType: types[rng.Intn(len(types))],
			InstanceID:    []string{"", "i-1", "i-2", "i-3"}[rng.Intn(4)],
		}
		if rng.Intn(3) == 0 {
			eni.Tags = map[string]string{tagCNIClusterName: "c1"}
		}
		for range rng.Intn(size/32 + 3) {
			eni.PrivateIPs = append(eni.PrivateIPs, addrAt(rng.Intn(size)).String())
		}
		if rng.Intn(10) == 0 { // outside the subnet, or garbage: must be skipped, not counted
			eni.PrivateIPs = append(eni.PrivateIPs, "192.168.0.1", "bogus")
		}
		if size >= 32 {
			for range rng.Intn(size/64 + 2) {
				eni.Prefixes = append(eni.Prefixes, netip.PrefixFrom(addrAt(16*rng.Intn(size/16)), 28).String())
			}
		}
		in.ENIs = append(in.ENIs, eni)
	}
	for r := range rng.Intn(4) {
		rb := bitsLen + rng.Intn(32-bitsLen+1)
		if rng.Intn(8) == 0 {
			rb = bitsLen - 1 // wider than the subnet: clipped
		}
		typ := ReservationExplicit
		if rng.Intn(2) == 0 {
			typ = ReservationPrefix
		}
		rp := netip.PrefixFrom(addrAt(rng.Intn(size)), rb).Masked()
		in.Reservations = append(in.Reservations, Reservation{ID: fmt.Sprintf("scr-%d", r), CIDR: rp.String(), Type: typ})
	}
	return in
}

// TestAnalyzeMatchesBruteForce is the property test: random subnets /16../28 with random
// addresses, prefixes and reservations must give the same numbers as the reference.
func TestAnalyzeMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(20261126))
	runs := 300
	if testing.Short() {
		runs = 50
	}
	for run := range runs {
		maxBits := 22
		if run%60 == 0 {
			maxBits = minSubnetBits // now and then a big subnet, up to a /16
		}
		in := randomInput(rng, maxBits)
		a, err := Analyze(in)
		if err != nil {
			t.Fatalf("run %d %s: %v", run, in.Subnet.CIDR, err)
		}
		ref := bruteForce(t, in)
		got := reference{
			size: a.Size, aws: a.AWSReserved, explicitRes: a.ExplicitReserved, prefixRes: a.PrefixReserved,
			used: a.Used, free: a.Free, freePrefixOnly: a.FreePrefixOnly, freeBlocks: a.FreePrefixBlocks,
			largest: a.LargestFreeBlock, assignedPrefixes: a.AssignedPrefixes, usedBy: a.UsedBy, blocks: string(a.Blocks),
		}
		if diff := cmp.Diff(ref, got, cmp.AllowUnexported(reference{})); diff != "" {
			t.Fatalf("run %d %s (-reference +bitmap):\n%s", run, in.Subnet.CIDR, diff)
		}
		// Invariants that must hold whatever the input.
		explicitUnused := a.Size - a.AWSReserved - a.Used - a.Free
		if explicitUnused < 0 || explicitUnused > a.ExplicitReserved {
			t.Fatalf("run %d: size %d != aws %d + used %d + free %d + explicit-unused", run, a.Size, a.AWSReserved, a.Used, a.Free)
		}
		if a.FragmentationRatio < 0 || a.FragmentationRatio > 1 {
			t.Fatalf("run %d: fragmentation ratio %v outside 0..1", run, a.FragmentationRatio)
		}
		if a.FreePrefixBlocks > 0 && a.LargestFreeBlock < blockSize {
			t.Fatalf("run %d: %d free blocks but largest free block %d", run, a.FreePrefixBlocks, a.LargestFreeBlock)
		}
	}
}

func FuzzAnalyze(f *testing.F) {
	f.Add("10.0.0.0/24", "10.0.0.9", "10.0.0.16/28", "10.0.0.64/26", "explicit")
	f.Add("10.0.0.0/16", "10.0.255.255", "10.0.1.0/28", "10.0.0.0/8", "prefix")
	f.Add("10.0.0.0/28", "::ffff:10.0.0.5", "10.0.0.0/27", "2001:db8::/64", "other")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, cidr, ip, prefix, res, typ string) {
		in := Input{
			Subnet:       Subnet{ID: "s", CIDR: cidr},
			ENIs:         []NetworkInterface{{ID: "e", InterfaceType: "interface", PrivateIPs: []string{ip}, Prefixes: []string{prefix}}},
			Reservations: []Reservation{{ID: "r", CIDR: res, Type: typ}},
		}
		a, err := Analyze(in)
		if err != nil {
			return
		}
		if unused := a.Size - a.AWSReserved - a.Used - a.Free; unused < 0 || unused > a.ExplicitReserved || a.Free < 0 {
			t.Fatalf("inconsistent counts: %+v", Summarize(a))
		}
		if a.FragmentationRatio < 0 || a.FragmentationRatio > 1 || len(a.Blocks) != a.Size/16 {
			t.Fatalf("bad analysis: %+v", Summarize(a))
		}
	})
}

// TestLeakedCNIENIs counts the detached ENIs ipamd would itself delete (getLeakedENIs in
// amazon-vpc-cni-k8s v1.23.0: status available, the node tag, description aws-K8S-, older
// than 5 minutes) and nothing else.
func TestLeakedCNIENIs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cni := func(id, status, desc, created string, ips ...string) NetworkInterface {
		tags := map[string]string{"node.k8s.amazonaws.com/instance_id": "i-0dead"}
		if created != "" {
			tags["node.k8s.amazonaws.com/createdAt"] = created
		}
		return NetworkInterface{ID: id, SubnetID: "subnet-l", InterfaceType: "interface", Status: status, Description: desc, PrivateIPs: ips, Tags: tags}
	}
	in := Input{Subnet: Subnet{ID: "subnet-l", CIDR: "10.9.0.0/24"}, Now: now, ENIs: []NetworkInterface{
		cni("eni-leak1", "available", "aws-K8S-i-0dead", "2026-12-03T08:00:00Z", "10.9.0.10", "10.9.0.11"),
		cni("eni-leak2", "available", "aws-K8S-i-0dead", "", "10.9.0.12"),
		cni("eni-new", "available", "aws-K8S-i-0dead", "2026-12-03T09:58:00Z", "10.9.0.13"),
		cni("eni-attached", "in-use", "aws-K8S-i-0dead", "2026-12-03T08:00:00Z", "10.9.0.14"),
		cni("eni-other", "available", "my own ENI", "2026-12-03T08:00:00Z", "10.9.0.15"),
	}}
	in.ENIs[1].Prefixes = []string{"10.9.0.32/28"}
	a, err := Analyze(in)
	if err != nil {
		t.Fatal(err)
	}
	if a.LeakedENICount != 2 || a.LeakedAddresses != 2+1+16 || len(a.LeakedENIs) != 2 || a.LeakedENIs[0].ID != "eni-leak1" || a.LeakedENIs[1].InstanceID != "i-0dead" {
		t.Fatalf("leaked = %d ENIs, %d addresses, %+v; want eni-leak1 and eni-leak2, 19 addresses", a.LeakedENICount, a.LeakedAddresses, a.LeakedENIs)
	}
}
