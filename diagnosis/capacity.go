package diagnosis

import (
	"math"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// nodeFacts gathers the identifying facts, preferring IMDS, then Kubernetes.
func nodeFacts(st *nodestate.State, mode IPMode) NodeFacts {
	n := NodeFacts{IPMode: mode}
	if st.Metadata != nil {
		n.InstanceID = st.Metadata.InstanceID
		n.InstanceType = st.Metadata.InstanceType
		n.Region = st.Metadata.Region
		n.AvailabilityZone = st.Metadata.AvailabilityZone
		n.AZID = st.Metadata.AZID
	}
	if st.Kube != nil {
		n.Name = st.Kube.NodeName
		if n.InstanceType == "" {
			n.InstanceType = st.Kube.InstanceTypeLbl
		}
		if n.AvailabilityZone == "" {
			n.AvailabilityZone = st.Kube.Zone
		}
	}
	n.PrimarySubnet = primarySubnet(st)
	if st.CNI != nil {
		n.CNIVersion = st.CNI.Version
	}
	if n.CNIVersion == "" && st.Kube != nil {
		n.CNIVersion = imageTag(st.Kube.AWSNodeImage)
	}
	return n
}

// imageTag returns the tag of a container image reference ("" if none).
func imageTag(image string) string {
	for i := len(image) - 1; i >= 0; i-- {
		switch image[i] {
		case ':':
			return image[i+1:]
		case '/', '@':
			return ""
		}
	}
	return ""
}

// primarySubnet is the subnet of the node's primary ENI.
func primarySubnet(st *nodestate.State) string {
	if st.IPAMD.HasDatastore() {
		for _, e := range st.IPAMD.ENIs {
			if e.IsPrimary && e.SubnetID != "" {
				return e.SubnetID
			}
		}
	}
	if st.Metadata != nil {
		for _, itf := range st.Metadata.Interfaces {
			if (st.Metadata.PrimaryMAC != "" && itf.MAC == st.Metadata.PrimaryMAC) ||
				(st.Metadata.PrimaryMAC == "" && itf.DeviceNumber == 0 && itf.NetworkCard == 0) {
				return itf.SubnetID
			}
		}
	}
	return ""
}

// ipMode is the mode ipamd really runs in: the datastore wins over the env, because ipamd
// falls back to secondary IPs when prefix delegation is unsupported (Xen).
func ipMode(cfg Config, st *nodestate.State) IPMode {
	switch {
	case cfg.IPv6.IsTrue():
		return ModeIPv6
	case prefixesInUse(st):
		return ModePrefix
	case cfg.PrefixDelegation.IsTrue():
		if (st.Logs != nil && st.Logs.LastHypervisor == HypervisorXen) || (st.IPAMD.HasDatastore() && secondaryInUse(st)) {
			return ModeSecondary
		}
		return ModePrefix
	case cfg.PrefixDelegation == False:
		return ModeSecondary
	}
	return ModeUnknown
}

func perSlot(mode IPMode) int {
	if mode == ModePrefix {
		return addressesPerPrefix
	}
	return 1
}

func fval(p *float64) int {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) || *p < 0 {
		return -1
	}
	return int(*p)
}

// trunkSlot reports whether an ENI slot goes to the trunk ENI of security groups for pods,
// and whether that trunk is attached yet. ipamd keeps the slot free as soon as
// ENABLE_POD_ENI=true on a trunking-compatible instance type, before the VPC resource
// controller attaches the trunk (hasRoomForEni in amazon-vpc-cni-k8s v1.23.0
// pkg/ipamd/ipamd.go; upstream issue #1203).
func trunkSlot(st *nodestate.State, cfg Config, instanceType string) (reserved, attached bool) {
	if st.IPAMD.HasDatastore() {
		for _, e := range st.IPAMD.ENIs {
			if e.IsTrunk {
				return true, true
			}
		}
	}
	if st.Kube != nil && st.Kube.PodENICapacity > 0 {
		return true, !st.IPAMD.HasDatastore() // without the datastore, trust the advertised capacity
	}
	if cfg.PodENI.IsTrue() && trunkingCompatible(instanceType) {
		return true, false
	}
	return false, false
}

func computeCapacity(st *nodestate.State, cfg Config, mode IPMode, instanceType string) Capacity {
	c := Capacity{
		Mode: mode, ENIs: -1, MaxENIs: -1, SlotsPerENI: -1, Prefixes: -1, HeldIPs: -1,
		AssignedIPs: -1, FreeIPs: -1, CooldownIPs: -1, AttachedCapacity: -1, MaxCapacity: -1,
		KubeletMaxPods: -1, Pods: -1, HostNetworkPods: -1, PendingPods: -1,
		BranchENICapacity: -1, BranchENIRequested: -1, PodENIsMax: -1,
	}
	custom := cfg.CustomNetworking.IsTrue()
	c.TrunkSlotReserved, c.TrunkAttached = trunkSlot(st, cfg, instanceType)

	if st.CNI != nil {
		c.MaxENIs = fval(st.CNI.ENIMax)
		c.ENIs = fval(st.CNI.ENIAllocated)
		c.HeldIPs = fval(st.CNI.TotalIPs)
		c.AssignedIPs = fval(st.CNI.AssignedIPs)
		c.Prefixes = fval(st.CNI.TotalIPv4Prefix)
		ipMax := fval(st.CNI.IPMax)
		if c.MaxENIs > 0 && ipMax > 0 && mode != ModeIPv6 && mode != ModeUnknown {
			per := ipMax / c.MaxENIs / perSlot(mode)
			if per*c.MaxENIs*perSlot(mode) == ipMax && per > 0 {
				c.SlotsPerENI = per
			}
		}
	}
	podENIsAttached := -1
	if st.IPAMD.HasDatastore() {
		c.ENIs = len(st.IPAMD.ENIs)
		c.HeldIPs, c.AssignedIPs, c.FreeIPs, c.CooldownIPs, c.Prefixes = 0, 0, 0, 0, 0
		podENIsAttached = 0
		for _, e := range st.IPAMD.ENIs {
			c.HeldIPs += e.Addresses
			c.AssignedIPs += e.Assigned
			c.FreeIPs += e.Free
			c.CooldownIPs += e.Cooldown
			c.Prefixes += e.Prefixes
			if e.IsExcluded {
				c.ExcludedENIs++
			}
			if e.IsTrunk || e.IsExcluded || (custom && e.IsPrimary) {
				continue
			}
			podENIsAttached++
		}
		// ipamd's own totals win when the per-ENI detail is missing.
		if len(st.IPAMD.ENIs) == 0 {
			c.HeldIPs, c.AssignedIPs = st.IPAMD.TotalIPs, st.IPAMD.AssignedIPs
			c.FreeIPs, c.CooldownIPs = c.HeldIPs-c.AssignedIPs, -1
		}
	} else if c.HeldIPs >= 0 && c.AssignedIPs >= 0 {
		c.FreeIPs = c.HeldIPs - c.AssignedIPs // cooldown unknown: counted as free
	}
	trunk := b2i(c.TrunkSlotReserved)
	if c.MaxENIs > 0 {
		// The ENIs ipamd may still fill with pod addresses: awscni_eni_max includes the trunk's
		// slot (attached or reserved) and the ENIs excluded from pod IPs.
		c.PodENIsMax = max(c.MaxENIs-b2i(custom)-trunk-c.ExcludedENIs, 0)
	}
	if mode != ModeIPv6 && c.SlotsPerENI > 0 {
		if podENIsAttached < 0 && c.ENIs >= 0 {
			podENIsAttached = max(c.ENIs-b2i(custom)-b2i(c.TrunkAttached), 0)
		}
		if podENIsAttached >= 0 {
			c.AttachedCapacity = max(podENIsAttached, 0) * c.SlotsPerENI * perSlot(mode)
		}
		if c.MaxENIs > 0 {
			c.MaxCapacity = c.PodENIsMax * c.SlotsPerENI * perSlot(mode)
		}
	}
	if mode == ModeIPv6 {
		// IPv4 address ceilings do not apply; one /80 per ENI is effectively unlimited.
		c.AttachedCapacity, c.MaxCapacity, c.FreeIPs = -1, -1, -1
	}

	// A Kube not read from the API carries only the aws-node env (a log-collector bundle):
	// its node and pod counts are unknown, not zero.
	if st.Kube != nil && st.Kube.FromAPI {
		c.Pods = st.Kube.Pods
		c.HostNetworkPods = st.Kube.HostNetworkPods
		c.PendingPods = st.Kube.PendingSandboxPods
		c.BranchENICapacity = st.Kube.PodENICapacity
		c.BranchENIRequested = st.Kube.PodENIRequests
		if st.Kube.AllocatablePods > 0 {
			c.KubeletMaxPods = st.Kube.AllocatablePods
		}
	}
	if c.KubeletMaxPods < 0 && st.Kubelet != nil && st.Kubelet.MaxPods > 0 {
		c.KubeletMaxPods = st.Kubelet.MaxPods
	}
	if c.KubeletMaxPods < 0 && st.Kube != nil && st.Kube.CapacityPods > 0 {
		c.KubeletMaxPods = st.Kube.CapacityPods
	}
	return c
}

// atENILimit reports whether ipamd may attach no more ENIs: the attached ones reach
// awscni_eni_max less a trunk slot that is reserved but not yet taken (hasRoomForEni).
func (c Capacity) atENILimit() bool {
	if c.MaxENIs <= 0 || c.ENIs < 0 {
		return false
	}
	pending := b2i(c.TrunkSlotReserved && !c.TrunkAttached)
	return c.ENIs >= c.MaxENIs-pending
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// room is how many more pods one ceiling lets in.
type room struct {
	ceiling Ceiling
	n       int
	// blocking is true for ceilings that stop the pool from growing now (an error is
	// active), as opposed to a ceiling that is merely nearest.
	blocking bool
}

// headroom picks the least room among the known ceilings.
func headroom(rooms []room, ipKnown bool) (int, Ceiling, Ceiling) {
	if !ipKnown {
		return -1, CeilingUnknown, CeilingUnknown
	}
	best := -1
	for i, r := range rooms {
		if best < 0 || r.n < rooms[best].n {
			best = i
		}
	}
	if best < 0 {
		return -1, CeilingUnknown, CeilingUnknown
	}
	b := rooms[best]
	h := max(b.n, 0)
	binding := CeilingNone
	if h == 0 || b.blocking {
		binding = b.ceiling
	} else {
		for _, r := range rooms {
			if r.blocking {
				binding = r.ceiling
				break
			}
		}
	}
	return h, binding, b.ceiling
}
