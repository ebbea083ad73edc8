package diagnosis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Each rule reads the state, decides whether its cause holds and adds a finding with what it
// measured. The explanation, fix, confirm and verify are the cause's advice (advice/*.md);
// each advice file's Upstream section names the upstream code the rule follows.

func (d *diag) ipamdUnreachable() {
	s, ok := d.st.Sources[nodestate.SourceIPAMD]
	if !ok || s.Up || d.has(CauseAWSNodeNotReady) {
		return
	}
	ev := []string{fmt.Sprintf("introspection (localhost:61679) failed: %s", orDash(s.Err))}
	if s.LastSuccess.IsZero() {
		ev = append(ev, "no successful poll since ipamwatch started")
	} else {
		ev = append(ev, fmt.Sprintf("last successful poll at %s", s.LastSuccess.UTC().Format(time.RFC3339)))
	}
	if m, ok := d.st.Sources[nodestate.SourceCNIMetrics]; ok {
		if m.Up {
			ev = append(ev, "the CNI metrics endpoint (:61678) answers, so aws-node runs: introspection may be disabled (DISABLE_INTROSPECTION) or bound elsewhere (INTROSPECTION_BIND_ADDRESS)")
		} else {
			ev = append(ev, fmt.Sprintf("the CNI metrics endpoint (:61678) fails too: %s", orDash(m.Err)))
		}
	}
	d.add(CauseIPAMDUnreachable, measured{
		summary:  "ipamd's introspection endpoint does not answer: per-ENI capacity is unknown and, if aws-node is down, no pod gets an IP",
		evidence: ev,
	})
}

func (d *diag) ipv6() {
	if d.cap.Mode != ModeIPv6 {
		return
	}
	ev := []string{"ENABLE_IPv6=" + string(d.cfg.IPv6)}
	if d.st.IPAMD.HasDatastore() {
		n := 0
		for _, e := range d.st.IPAMD.ENIs {
			n += e.IPv6Prefixes
		}
		ev = append(ev, fmt.Sprintf("%d IPv6 /80 prefix(es) on the node's ENIs", n))
	}
	d.add(CauseIPv6Mode, measured{
		summary:  "IPv6 mode: each ENI carries an IPv6 /80 prefix, so the IPv4 address ceilings (subnet, ENI, prefixes) do not apply; kubelet max-pods is the ceiling",
		evidence: ev,
	})
}

// subnetOf picks the subnet a failure most likely concerns: the one the log names, else the
// node's primary subnet.
func (d *diag) subnetOf(classes ...logparse.Class) string {
	if d.st.Logs != nil {
		for _, c := range classes {
			if cs, ok := d.st.Logs.Classes[c.String()]; ok && cs.SubnetID != "" {
				return cs.SubnetID
			}
		}
	}
	return d.node.PrimarySubnet
}

// subnetFacts are the local numbers about a subnet: its CIDR size and what this node holds in it.
func (d *diag) subnetFacts(subnet string) []string {
	var ev []string
	if subnet == "" {
		return nil
	}
	if d.st.Metadata != nil {
		for _, itf := range d.st.Metadata.Interfaces {
			if itf.SubnetID == subnet && itf.SubnetCIDR != "" {
				ev = append(ev, fmt.Sprintf("subnet %s is %s", subnet, itf.SubnetCIDR))
				break
			}
		}
	}
	if d.st.IPAMD.HasDatastore() {
		held, enis := 0, 0
		for _, e := range d.st.IPAMD.ENIs {
			if e.SubnetID == subnet {
				enis++
				held += 1 + e.SecondaryIPs + 16*e.Prefixes
			}
		}
		if enis > 0 {
			ev = append(ev, fmt.Sprintf("this node holds %d address(es) in %s on %d ENI(s) (primary IPs, secondary IPs, 16 per prefix)", held, subnet, enis))
		}
	}
	return ev
}

// subnetOrFragmentation tells a full subnet from a subnet with addresses but no free /28.
// InsufficientFreeAddressesInSubnet (or the CreateNetworkInterface "sufficient free Ipv4
// addresses" message, classed subnet_exhausted) proves the subnet is out of addresses;
// InsufficientCidrBlocks alone says no contiguous /28 is left, which is fragmentation unless
// the subnet is also nearly full: the subnet's free address count tells them apart.
func (d *diag) subnetOrFragmentation() {
	subnetActive, subnetEv := d.classOrCode(logparse.SubnetExhausted, codeInsufficientFreeAddresses)
	fragActive, fragEv := d.classOrCode(logparse.PrefixFragmented, codeInsufficientCidrBlocks)
	// A follow-up line classed by its predecessor may carry the other code; trust the code.
	if cs, ok := d.class(logparse.SubnetExhausted); ok && cs.Code == codeInsufficientCidrBlocks && !d.codeSeen(codeInsufficientFreeAddresses) {
		subnetActive = false
		fragActive = true
		fragEv = append(fragEv, subnetEv...)
		subnetEv = nil
	}
	if cs, ok := d.class(logparse.PrefixFragmented); ok && cs.Code == codeInsufficientFreeAddresses {
		subnetActive = true
	}
	pressure, pressureEv := d.poolPressure()
	switch {
	case subnetActive:
		subnet := d.subnetOf(logparse.SubnetExhausted, logparse.PrefixFragmented)
		ev := append(append([]string(nil), subnetEv...), d.subnetFacts(subnet)...)
		if fragActive {
			ev = append(ev, "InsufficientCidrBlocks was seen too: with InsufficientFreeAddressesInSubnet present the subnet is out of addresses, not merely fragmented")
		}
		ev = append(ev, fmt.Sprintf("free pod IPs on the node: %s; pool growth is blocked (ipamd backs off 2 minutes after each failure)", fmtInt(d.cap.FreeIPs)))
		if pressure {
			ev = append(ev, pressureEv...)
		}
		if view, ok := d.subnetView(subnet); ok {
			ev = append(ev, fmt.Sprintf("subnet analysis (EC2, %s): %d free address(es) of %d, %d free /28 block(s)", view.At.UTC().Format(time.RFC3339), view.FreeAddresses, view.Size, view.FreePrefixBlocks))
		}
		d.add(CauseSubnetExhausted, measured{
			summary:  fmt.Sprintf("subnet %s has no free IPv4 addresses: ipamd cannot add IPs, prefixes or ENIs", orDash(subnet)),
			evidence: ev, subnet: subnet,
		})
	case fragActive:
		subnet := d.subnetOf(logparse.PrefixFragmented, logparse.SubnetExhausted)
		ev := append(append([]string(nil), fragEv...), d.subnetFacts(subnet)...)
		ev = append(ev, fmt.Sprintf("free pod IPs on the node: %s; no new /28 prefix can be assigned", fmtInt(d.cap.FreeIPs)))
		if pressure {
			ev = append(ev, pressureEv...)
		}
		view, analysed := d.subnetView(subnet)
		switch {
		case analysed && view.FreeAddresses < 16:
			// InsufficientCidrBlocks in a subnet that is simply full: exhaustion, not fragmentation.
			ev = append(ev, fmt.Sprintf("subnet analysis (EC2, %s): only %d free address(es) of %d: the subnet is exhausted, not fragmented", view.At.UTC().Format(time.RFC3339), view.FreeAddresses, view.Size))
			d.add(CauseSubnetExhausted, measured{
				summary:  fmt.Sprintf("subnet %s is out of addresses: no /28 prefix and hardly any address left (InsufficientCidrBlocks)", orDash(subnet)),
				evidence: ev, subnet: subnet,
			})
			return
		case analysed && view.FreePrefixBlocks == 0:
			ev = append(ev, fmt.Sprintf("fragmentation confirmed by the subnet analysis (EC2, %s): %d free addresses but no free aligned /28 (largest free block %d addresses, %.0f%% of the free space unusable for prefixes)",
				view.At.UTC().Format(time.RFC3339), view.FreeAddresses, view.LargestFreeBlock, 100*view.FragmentationRatio))
		case analysed:
			ev = append(ev, fmt.Sprintf("the subnet analysis (EC2, %s) shows %d free /28 block(s) now: the failure may have been transient, raced other nodes, or concerns another subnet", view.At.UTC().Format(time.RFC3339), view.FreePrefixBlocks))
		default:
			ev = append(ev, "not yet told apart from a full subnet: the confirm step shows the subnet's free addresses (well above 16 means fragmentation)")
		}
		d.add(CausePrefixFragmented, measured{
			summary:  fmt.Sprintf("subnet %s has no free contiguous /28 block for a prefix (InsufficientCidrBlocks)", orDash(subnet)),
			evidence: ev, subnet: subnet,
		})
	}
}

// subnetView returns the cluster-level analysis of a subnet, when the agent has one.
func (d *diag) subnetView(subnet string) (nodestate.SubnetView, bool) {
	if subnet == "" || d.st.Subnets == nil {
		return nodestate.SubnetView{}, false
	}
	v, ok := d.st.Subnets[subnet]
	return v, ok && v.Size > 0
}

func (d *diag) codeSeen(code string) bool {
	n, _ := d.apiErrors(code)
	return n > 0
}

func (d *diag) eniQuota() {
	ok, ev := d.classOrCode(logparse.ENIQuota, codeNetworkInterfaceLimit)
	if !ok {
		return
	}
	ev = append(ev, fmt.Sprintf("ENIs attached: %s of %s; the regional quota blocks new ENIs on every node of the account and region", fmtInt(d.cap.ENIs), fmtInt(d.cap.MaxENIs)))
	d.add(CauseENIQuota, measured{
		summary:  "EC2 refuses new network interfaces: the account's regional ENI quota (NetworkInterfaceLimitExceeded) is reached",
		evidence: ev,
	})
}

func (d *diag) throttled() {
	ok, ev := d.classOrCode(logparse.EC2Throttled, throttleCodes...)
	if !ok {
		return
	}
	ev = append(ev, "the CNI counts an API error only after the SDK's retries, so each one is a failed allocation attempt")
	if pos(d.cfg.WarmIPTarget) && *d.cfg.WarmIPTarget <= 2 {
		ev = append(ev, fmt.Sprintf("WARM_IP_TARGET=%d: a small warm target makes ipamd call EC2 for nearly every pod start and stop", *d.cfg.WarmIPTarget))
	}
	d.add(CauseEC2Throttled, measured{
		summary:  "EC2 API calls from ipamd are throttled: IP and ENI allocation is delayed or fails",
		evidence: ev,
	})
}

func (d *diag) unauthorized() {
	ok, ev := d.classOrCode(logparse.Unauthorized, unauthorizedCodes...)
	if !ok {
		return
	}
	d.add(CauseUnauthorized, measured{
		summary:  "ipamd is not allowed to call EC2 (UnauthorizedOperation / AccessDenied): it cannot assign IPs or attach ENIs",
		evidence: ev,
	})
}

// awsNodeRBAC: the API server refuses aws-node's service account. Kubernetes RBAC, not IAM.
func (d *diag) awsNodeRBAC() {
	cs, ok := d.class(logparse.AWSNodeRBACDenied)
	if !ok {
		return
	}
	d.add(CauseAWSNodeRBACDenied, measured{
		summary:  "the Kubernetes API refuses aws-node's service account (RBAC): ipamd cannot read what it needs from the cluster",
		evidence: []string{d.classEvidence(logparse.AWSNodeRBACDenied, cs)},
	})
}

func (d *diag) imds() {
	ok, ev := d.classOrCode(logparse.IMDSFailure, codeIMDSRequestError)
	if !ok {
		return
	}
	d.add(CauseIMDSFailure, measured{
		summary:  "ipamd cannot read the instance metadata service: it cannot discover or reconcile the node's ENIs",
		evidence: ev,
	})
}

// prefixUnsupported: prefix delegation requested on a non-Nitro instance, known from ipamd's
// own lines (Logs.LastHypervisor) or inferred: the env asks for prefixes, the datastore has
// only /32 secondary IPs, and ipamd logged a warning about it.
func (d *diag) prefixUnsupported() {
	if !d.cfg.PrefixDelegation.IsTrue() || prefixesInUse(d.st) {
		return
	}
	ev := []string{"ENABLE_PREFIX_DELEGATION=true in the aws-node env"}
	known := d.st.Logs != nil && d.st.Logs.LastHypervisor == HypervisorXen
	if known {
		ev = append(ev, "ipamd's log says the instance runs on the Xen hypervisor")
	} else {
		if d.st.Logs != nil && d.st.Logs.LastHypervisor == HypervisorNitro {
			return
		}
		if !d.st.IPAMD.HasDatastore() || !secondaryInUse(d.st) {
			return
		}
		cs, ok := d.class(logparse.OtherError)
		if !ok || !mentionsPrefixSupport(cs.Example) {
			return
		}
		ev = append(ev, d.classEvidence(logparse.OtherError, cs))
	}
	if d.st.IPAMD.HasDatastore() {
		sec := 0
		for _, e := range d.st.IPAMD.ENIs {
			sec += e.SecondaryIPs
		}
		ev = append(ev, fmt.Sprintf("the datastore holds %d /32 secondary IPs and no /28 prefix: ipamd fell back to secondary-IP mode", sec))
	}
	d.add(CausePrefixDelegationUnsupported, measured{
		summary:  fmt.Sprintf("prefix delegation is requested but %s is not a Nitro instance: ipamd ignores it and uses secondary IPs", d.instanceType()),
		evidence: ev,
	})
}

func mentionsPrefixSupport(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "prefix") && (strings.Contains(l, "nitro") || strings.Contains(l, "not supported") || strings.Contains(l, "unsupported"))
}

// secondaryValue is the bootstrap default max-pods: ENIs x (IPv4 limit - 1) + 2.
func (d *diag) secondaryValue() int {
	if d.cap.MaxENIs <= 0 || d.cap.SlotsPerENI <= 0 {
		return -1
	}
	return d.cap.MaxENIs*d.cap.SlotsPerENI + hostNetworkAllowance
}

// hostPods is the host-network pods on the node, or the +2 of the EKS formula when unknown.
func (d *diag) hostPods() (int, string) {
	if h := d.cap.HostNetworkPods; h >= 0 {
		return h, "host-network pods on the node"
	}
	return hostNetworkAllowance, "host-network pods assumed (aws-node, kube-proxy)"
}

// branchAllowance is the pods that take their address from a branch ENI instead of the pool:
// the node's vpc.amazonaws.com/pod-eni capacity under security groups for pods, else the
// instance type's branch ENIs from the VPC resource controller's table. 0 without it.
func (d *diag) branchAllowance() (int, string) {
	if !d.cfg.PodENI.IsTrue() && d.cap.BranchENICapacity <= 0 {
		return 0, ""
	}
	if d.cap.BranchENICapacity > 0 {
		return d.cap.BranchENICapacity, "branch ENIs the node advertises (vpc.amazonaws.com/pod-eni)"
	}
	if n, ok := BranchENIs(d.node.InstanceType); ok && n > 0 {
		return n, fmt.Sprintf("branch ENIs of %s (VPC resource controller limits)", d.node.InstanceType)
	}
	return 0, ""
}

func (d *diag) maxPodsExceedsIPCapacity() {
	c := d.cap
	if c.Mode == ModeIPv6 || c.KubeletMaxPods <= 0 || c.MaxCapacity < 0 {
		return
	}
	host, hostNote := d.hostPods()
	branch, branchNote := d.branchAllowance()
	need := c.KubeletMaxPods - host - branch
	if need <= c.MaxCapacity {
		return
	}
	first := fmt.Sprintf("kubelet max-pods %d - %d %s", c.KubeletMaxPods, host, hostNote)
	if branch > 0 {
		first += fmt.Sprintf(" - %d %s", branch, branchNote)
	}
	ev := []string{
		fmt.Sprintf("%s = %d pods that need an address from ipamd's pool", first, need),
		fmt.Sprintf("the node can ever hold %d pod IPs: %s", c.MaxCapacity, d.capacityFormula()),
		fmt.Sprintf("so up to %d admitted pods can never get an IP and stay in ContainerCreating", need-c.MaxCapacity),
	}
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	target := c.MaxCapacity + host + branch
	d.add(CauseMaxPodsExceedsIPCapacity, measured{
		summary:  fmt.Sprintf("kubelet admits %d pods but the node can only ever give %d pod IPs", c.KubeletMaxPods, c.MaxCapacity+branch),
		evidence: ev,
		fix:      map[string]string{"max_pods": fmt.Sprint(target)},
	})
}

func (d *diag) capacityFormula() string {
	c := d.cap
	var b strings.Builder
	enis := fmt.Sprintf("%d ENIs", c.MaxENIs)
	if d.cfg.CustomNetworking.IsTrue() {
		enis += " - 1 primary under custom networking"
	}
	switch {
	case c.TrunkSlotReserved && c.TrunkAttached:
		enis += " - 1 trunk"
	case c.TrunkSlotReserved:
		enis += " - 1 slot ipamd keeps for the trunk (not attached yet)"
	}
	if c.ExcludedENIs > 0 {
		enis += fmt.Sprintf(" - %d excluded from pod IPs", c.ExcludedENIs)
	}
	if strings.Contains(enis, " - ") {
		enis = "(" + enis + ")"
	}
	fmt.Fprintf(&b, "%s x %d slots", enis, c.SlotsPerENI)
	if c.Mode == ModePrefix {
		b.WriteString(" x 16 per /28 prefix")
	}
	return b.String()
}

func (d *diag) maxPodsNotRaised() {
	c := d.cap
	if c.Mode != ModePrefix || c.KubeletMaxPods <= 0 || c.MaxCapacity <= 0 {
		return
	}
	sec := d.secondaryValue()
	if sec < 0 || c.KubeletMaxPods > sec {
		return
	}
	target := min(c.MaxCapacity+hostNetworkAllowance, RecommendedMaxPodsSmall)
	if target-c.KubeletMaxPods < d.opts.MaxPodsMargin {
		return
	}
	ev := []string{
		fmt.Sprintf("prefix delegation is on: the node can hold %d pod IPs (%s)", c.MaxCapacity, d.capacityFormula()),
		fmt.Sprintf("kubelet max-pods is %d, at or below the secondary-IP value %d ENIs x %d + 2 = %d", c.KubeletMaxPods, c.MaxENIs, c.SlotsPerENI, sec),
	}
	if c.Pods >= 0 {
		ev = append(ev, fmt.Sprintf("pods on the node: %d of %d", c.Pods, c.KubeletMaxPods))
	}
	ev = append(ev, fmt.Sprintf("the EKS calculator caps max-pods at %d (up to 30 vCPUs) or %d (more vCPUs); ipamwatch maxpods --prefix-delegation gives the exact value for %s", RecommendedMaxPodsSmall, RecommendedMaxPodsLarge, d.instanceType()))
	d.add(CauseMaxPodsNotRaised, measured{
		summary:  fmt.Sprintf("prefix delegation is on but kubelet max-pods is still %d: kubelet, not IPs, caps density", c.KubeletMaxPods),
		evidence: ev,
		fix:      map[string]string{"max_pods": fmt.Sprintf("%d (%d on instances with more than 30 vCPUs)", target, min(c.MaxCapacity+hostNetworkAllowance, RecommendedMaxPodsLarge))},
	})
}

func (d *diag) eniLimit() {
	c := d.cap
	if c.Mode == ModeIPv6 || d.has(CauseSubnetExhausted) || d.has(CausePrefixFragmented) {
		return
	}
	atMax := c.atENILimit()
	signal, sigEv := d.classOrCode(logparse.ENILimit, codeAttachmentLimitExceeded)
	if !atMax && !signal {
		return
	}
	pressure, pEv := d.poolPressure()
	known := c.FreeIPs >= 0
	full := c.FreeIPs == 0 && c.AttachedCapacity > 0 && c.AssignedIPs >= c.AttachedCapacity-max(c.CooldownIPs, 0)
	// With free addresses left the ENIs do not bind yet: ipamd logs the ENI-limit line on every
	// reconcile at the limit, and a pool-empty line then is a burst that outran the pool.
	if known && !full {
		return
	}
	// EC2 refusing an attachment (AttachmentLimitExceeded) is a failure by itself; the DEBUG
	// limit line is routine at the limit and counts only with pods failing.
	refused := d.codeSeen(codeAttachmentLimitExceeded)
	if cs, ok := d.class(logparse.ENILimit); ok && cs.Code == codeAttachmentLimitExceeded {
		refused = true
	}
	// A node full to its ENI limit with nothing waiting is simply dense, not failing.
	if !pressure && c.PendingPods <= 0 && (known || !refused) {
		return
	}
	ev := []string{fmt.Sprintf("ENIs attached: %s of %s (awscni_eni_max)", fmtInt(c.ENIs), fmtInt(c.MaxENIs))}
	if c.TrunkSlotReserved && !c.TrunkAttached {
		ev = append(ev, "ENABLE_POD_ENI=true on a trunking-compatible type: ipamd keeps one ENI slot free for the trunk ENI, which is not attached yet")
	}
	if c.ExcludedENIs > 0 {
		ev = append(ev, fmt.Sprintf("%d ENI(s) are excluded from pod IPs", c.ExcludedENIs))
	}
	ev = append(ev, fmt.Sprintf("pod IPs: %s assigned, %s free of %s the node can ever hold (%s)", fmtInt(c.AssignedIPs), fmtInt(c.FreeIPs), fmtInt(c.MaxCapacity), d.capacityFormula()))
	ev = append(ev, sigEv...)
	ev = append(ev, pEv...)
	if !signal {
		ev = append(ev, "the ENI-limit line is logged at DEBUG only: with AWS_VPC_K8S_CNI_LOGLEVEL above DEBUG it does not appear")
	}
	if c.CooldownIPs > 0 {
		ev = append(ev, fmt.Sprintf("%d address(es) are in cooldown (IP_COOLDOWN_PERIOD, default 30 s): pods churn faster than addresses come back", c.CooldownIPs))
	}
	if d.cfg.MaxENI != nil {
		ev = append(ev, fmt.Sprintf("MAX_ENI=%d caps the ENIs", *d.cfg.MaxENI))
	}
	host, _ := d.hostPods()
	branch, _ := d.branchAllowance()
	target := c.MaxCapacity + max(host, hostNetworkAllowance) + branch
	maxPods := fmt.Sprint(target)
	if c.MaxCapacity >= 0 && c.KubeletMaxPods > 0 && c.KubeletMaxPods <= target {
		maxPods = fmt.Sprintf("%d, which it already is (kubelet admits %d): the ENIs are the limit, so raise density or use a larger type", target, c.KubeletMaxPods)
	}
	summary := fmt.Sprintf("the node is at its ENI limit (%s ENIs) and its pod IPs are used up", fmtInt(c.MaxENIs))
	if !known {
		summary = fmt.Sprintf("%s has reached its ENI limit: EC2 refuses to attach more ENIs", d.instanceType())
		if c.MaxENIs < 0 {
			maxPods = fmt.Sprintf("the value ipamwatch maxpods --instance-type %s prints", d.instanceType())
		}
	}
	d.add(CauseENILimit, measured{
		summary: summary, evidence: ev, logsOnly: !known,
		fix: map[string]string{"max_pods": maxPods},
	})
}

func (d *diag) branchENI() {
	c := d.cap
	cs, logged := d.class(logparse.BranchENI)
	pressure := c.PendingPods > 0
	var ev []string
	switch {
	case c.BranchENICapacity > 0 && c.BranchENIRequested >= c.BranchENICapacity && (pressure || logged || c.BranchENIRequested > c.BranchENICapacity):
		ev = append(ev, fmt.Sprintf("pods on the node request %d vpc.amazonaws.com/pod-eni; the node advertises %d branch ENIs", c.BranchENIRequested, c.BranchENICapacity))
	case c.BranchENICapacity == 0 && logged && (d.cfg.PodENI.IsTrue() || c.BranchENIRequested > 0):
		ev = append(ev, "the node advertises no vpc.amazonaws.com/pod-eni capacity although ENABLE_POD_ENI is on or pods request branch ENIs: no trunk ENI (instance type not trunking-compatible, or no free ENI slot for the trunk)")
		if n, ok := BranchENIs(d.node.InstanceType); ok && n == 0 {
			ev = append(ev, fmt.Sprintf("%s is not trunking-compatible (VPC resource controller limits)", d.node.InstanceType))
		}
	case c.BranchENICapacity < 0 && logged && d.cfg.PodENI != False && (cs.Recent > 0 || d.st.Logs.Window == 0):
		// No Kubernetes view (a bundle or a pasted log): the logged failures are the evidence.
		ev = append(ev, fmt.Sprintf("ENABLE_POD_ENI=%s and branch-ENI failures are logged; the node's vpc.amazonaws.com/pod-eni capacity and the pods' requests are not known here: the confirm step shows them", d.cfg.PodENI))
	default:
		return
	}
	if logged {
		ev = append(ev, d.classEvidence(logparse.BranchENI, cs))
	}
	if pressure {
		ev = append(ev, fmt.Sprintf("%d pod(s) scheduled to the node have no IP yet", c.PendingPods))
	}
	d.add(CauseBranchENIExhausted, measured{
		summary:  "pods with their own security groups cannot get a branch ENI on this node",
		evidence: ev, logsOnly: c.BranchENICapacity < 0,
	})
}

func pos(p *int) bool { return p != nil && *p > 0 }

// warmConflict reports warm-pool settings that really misbehave in ipamd (pkg/ipamd/ipamd.go
// v1.23.0, isDatastorePoolTooLow and datastoreTargetState). WARM_IP_TARGET/MINIMUM_IP_TARGET
// beside WARM_PREFIX_TARGET is not one of them: the IP targets win by design
// (getPrefixesNeeded) and the upstream manifest always sets WARM_PREFIX_TARGET=1.
func (d *diag) warmConflict() {
	cfg := d.cfg
	var ev []string
	zeroOrUnset := func(p *int) bool { return p == nil || *p == 0 }
	explicitZero := func(p *int) bool { return p != nil && *p == 0 }
	change := ""
	pd := cfg.PrefixDelegation.IsTrue()
	if pd && zeroOrUnset(cfg.WarmPrefixTarget) && zeroOrUnset(cfg.WarmIPTarget) && zeroOrUnset(cfg.MinimumIPTarget) &&
		(explicitZero(cfg.WarmPrefixTarget) || explicitZero(cfg.WarmIPTarget) || explicitZero(cfg.MinimumIPTarget)) {
		ev = append(ev, fmt.Sprintf("prefix delegation with zero warm targets (WARM_PREFIX_TARGET=%s, WARM_IP_TARGET=%s, MINIMUM_IP_TARGET=%s): unsupported, ipamd keeps no spare prefix and allocates only when the pool is empty",
			intp(cfg.WarmPrefixTarget), intp(cfg.WarmIPTarget), intp(cfg.MinimumIPTarget)))
		change = "WARM_PREFIX_TARGET=1"
	}
	if !pd && cfg.PrefixDelegation != Unknown && explicitZero(cfg.WarmENITarget) && zeroOrUnset(cfg.WarmIPTarget) && zeroOrUnset(cfg.MinimumIPTarget) {
		ev = append(ev, "WARM_ENI_TARGET=0 with no WARM_IP_TARGET or MINIMUM_IP_TARGET: ipamd keeps no spare address and allocates only when the pool is empty, so pods wait for EC2")
		change = "WARM_ENI_TARGET=1"
	}
	if pos(cfg.MinimumIPTarget) && d.cap.MaxCapacity > 0 && *cfg.MinimumIPTarget > d.cap.MaxCapacity {
		ev = append(ev, fmt.Sprintf("MINIMUM_IP_TARGET=%d exceeds the %d pod IPs the node can ever hold: ipamd keeps trying to allocate", *cfg.MinimumIPTarget, d.cap.MaxCapacity))
		if change == "" {
			change = fmt.Sprintf("MINIMUM_IP_TARGET=%d", d.cap.MaxCapacity)
		}
	}
	if len(ev) == 0 {
		return
	}
	ev = append(ev, "settings from "+cfg.EnvSource)
	d.add(CauseWarmTargetConflict, measured{
		summary:  "the CNI's warm-pool settings leave no spare addresses or ask for more than the node can hold",
		evidence: ev,
		fix:      map[string]string{"change": change},
	})
}

// warmPoolCapped: MINIMUM_IP_TARGET with WARM_IP_TARGET unset or 0. ipamd then computes the
// shortfall as max(0 - available, MINIMUM - total) (datastoreTargetState), so once the node
// holds MINIMUM addresses the pool never grows (README, MINIMUM_IP_TARGET point 2).
func (d *diag) warmPoolCapped() {
	cfg := d.cfg
	if d.cap.Mode == ModeIPv6 || !pos(cfg.MinimumIPTarget) || pos(cfg.WarmIPTarget) {
		return
	}
	if cfg.WarmIPTarget == nil && !strings.Contains(cfg.EnvSource, "aws-node") {
		// WARM_IP_TARGET unknown rather than unset: only the container env says it is unset.
		return
	}
	c := d.cap
	capped := d.warmCap()
	ev := []string{
		fmt.Sprintf("MINIMUM_IP_TARGET=%d and WARM_IP_TARGET=%s (from %s): ipamd keeps the pool at %d address(es) and allocates no more once it holds them", *cfg.MinimumIPTarget, intp(cfg.WarmIPTarget), cfg.EnvSource, capped),
	}
	if c.HeldIPs >= 0 {
		ev = append(ev, fmt.Sprintf("pod IPs: %s held, %s assigned, %s free", fmtInt(c.HeldIPs), fmtInt(c.AssignedIPs), fmtInt(c.FreeIPs)))
	}
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	d.add(CauseWarmPoolCapped, measured{
		summary:  fmt.Sprintf("MINIMUM_IP_TARGET=%d without WARM_IP_TARGET freezes the pool at %d addresses", *cfg.MinimumIPTarget, capped),
		evidence: ev,
	})
}

// warmCap is the pool size MINIMUM_IP_TARGET alone keeps: the minimum, rounded up to whole
// /28 prefixes under prefix delegation (docs/prefix-and-ip-target.md).
func (d *diag) warmCap() int {
	m := *d.cfg.MinimumIPTarget
	if d.cap.Mode == ModePrefix {
		m = (m + addressesPerPrefix - 1) / addressesPerPrefix * addressesPerPrefix
	}
	return max(m, d.cap.HeldIPs)
}

func (d *diag) hoarding() {
	c := d.cap
	if c.Mode == ModeIPv6 || c.FreeIPs < 0 || c.AssignedIPs < 0 {
		return
	}
	idle := c.FreeIPs + max(c.CooldownIPs, 0)
	if idle < d.opts.HoardingMinIdle || float64(idle) <= d.opts.HoardingRatio*float64(c.AssignedIPs) {
		return
	}
	ev := []string{
		fmt.Sprintf("idle pod IPs: %d (%d free + %d in cooldown) against %d assigned (more than %g x)", idle, c.FreeIPs, max(c.CooldownIPs, 0), c.AssignedIPs, d.opts.HoardingRatio),
		fmt.Sprintf("warm settings: WARM_ENI_TARGET=%s WARM_IP_TARGET=%s MINIMUM_IP_TARGET=%s WARM_PREFIX_TARGET=%s (from %s)", intp(d.cfg.WarmENITarget), intp(d.cfg.WarmIPTarget), intp(d.cfg.MinimumIPTarget), intp(d.cfg.WarmPrefixTarget), d.cfg.EnvSource),
	}
	if subnet := d.node.PrimarySubnet; subnet != "" {
		ev = append(ev, d.subnetFacts(subnet)...)
	}
	d.add(CauseWarmPoolHoarding, measured{
		summary:  fmt.Sprintf("the node holds %d idle pod IPs for %d assigned: addresses other nodes in the subnet cannot use", idle, c.AssignedIPs),
		evidence: ev,
	})
}

// customNetworking: custom networking is on, yet pods sit on the primary ENI, or on ENIs in
// the node's own subnet while the node also has ENIs in another subnet (the ENIConfig's):
// the node predates the change. ENIs in the node's subnet alone prove nothing, because an
// ENIConfig may name the node's own subnet.
func (d *diag) customNetworking() {
	if !d.cfg.CustomNetworking.IsTrue() || !d.st.IPAMD.HasDatastore() {
		return
	}
	primary := d.node.PrimarySubnet
	enis := append([]nodestate.ENI(nil), d.st.IPAMD.ENIs...)
	sort.Slice(enis, func(i, j int) bool { return enis[i].ID < enis[j].ID })
	elsewhere := ""
	for _, e := range enis {
		if !e.IsPrimary && !e.IsTrunk && e.SubnetID != "" && primary != "" && e.SubnetID != primary {
			elsewhere = fmt.Sprintf("ENI %s is in subnet %s, another subnet than the node's %s: the ENIConfig's subnet", e.ID, e.SubnetID, primary)
			break
		}
	}
	var offenders []string
	pods := 0
	for _, e := range enis {
		if e.Assigned <= 0 {
			continue
		}
		switch {
		case e.IsPrimary:
			offenders = append(offenders, fmt.Sprintf("primary ENI %s (subnet %s) carries %d pod IP(s); under custom networking the primary ENI carries none", e.ID, orDash(e.SubnetID), e.Assigned))
			pods += e.Assigned
		case elsewhere != "" && e.SubnetID == primary:
			offenders = append(offenders, fmt.Sprintf("ENI %s is in the node's own subnet %s and carries %d pod IP(s)", e.ID, primary, e.Assigned))
			pods += e.Assigned
		}
	}
	if len(offenders) == 0 {
		return
	}
	ev := append([]string{fmt.Sprintf("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true, ENIConfig %q", orDash(d.cfg.ENIConfig))}, offenders...)
	if elsewhere != "" {
		ev = append(ev, elsewhere)
	}
	if d.st.Kube != nil && !d.st.Kube.CreationTime.IsZero() {
		ev = append(ev, fmt.Sprintf("node created %s: custom networking applies only to ENIs attached after it was enabled", d.st.Kube.CreationTime.UTC().Format(time.RFC3339)))
	}
	d.add(CauseCustomNetworkingNotApplied, measured{
		summary:  fmt.Sprintf("custom networking is on but %d pod IP(s) sit outside the ENIConfig's subnet: the node predates the change", pods),
		evidence: ev,
	})
}

// cooldownStarvation: pods fail, no address is free, some are cooling down, and the node has
// room to grow: ipamd counts cooldown addresses as available (AvailableAddresses = total -
// assigned in pkg/ipamd/datastore/data_store.go v1.23.0), so its warm target looks met.
func (d *diag) cooldownStarvation() {
	c := d.cap
	if c.Mode == ModeIPv6 || c.CooldownIPs <= 0 || c.FreeIPs != 0 || c.AssignedIPs < 0 {
		return
	}
	pressure, pev := d.poolPressure()
	if !pressure && c.PendingPods <= 0 {
		return
	}
	if c.MaxCapacity >= 0 && c.AssignedIPs+c.CooldownIPs >= c.MaxCapacity {
		return // no room to grow: the ENI ceiling, not the cooldown
	}
	for _, cause := range []Cause{CauseSubnetExhausted, CausePrefixFragmented, CauseENILimit, CauseENIQuota, CauseEC2Throttled,
		CauseUnauthorized, CauseIMDSFailure, CauseWarmPoolCapped, CauseIPAMDUnreachable} {
		if d.has(cause) {
			return
		}
	}
	ev := []string{
		fmt.Sprintf("pod IPs: %d assigned, 0 free, %d in cooldown (IP_COOLDOWN_PERIOD, default 30 s); the node could hold %s", c.AssignedIPs, c.CooldownIPs, fmtInt(c.MaxCapacity)),
		"ipamd counts addresses in cooldown as available, so its warm target looks met and it does not add addresses",
		fmt.Sprintf("warm settings: WARM_ENI_TARGET=%s WARM_IP_TARGET=%s MINIMUM_IP_TARGET=%s WARM_PREFIX_TARGET=%s (from %s)", intp(d.cfg.WarmENITarget), intp(d.cfg.WarmIPTarget), intp(d.cfg.MinimumIPTarget), intp(d.cfg.WarmPrefixTarget), d.cfg.EnvSource),
	}
	ev = append(ev, pev...)
	d.add(CauseIPCooldownStarvation, measured{
		summary:  fmt.Sprintf("%d address(es) in cooldown and none free: pods churn faster than addresses come back", c.CooldownIPs),
		evidence: ev,
	})
}

// leakedENIs: the cluster-level subnet analysis (ipamwatch subnets) found detached ENIs the
// CNI created and left behind in a subnet this node uses.
func (d *diag) leakedENIs() {
	if d.st.Subnets == nil {
		return
	}
	subnets := map[string]bool{d.node.PrimarySubnet: true}
	if d.st.IPAMD.HasDatastore() {
		for _, e := range d.st.IPAMD.ENIs {
			subnets[e.SubnetID] = true
		}
	}
	ids := make([]string, 0, len(subnets))
	for id := range subnets {
		if v, ok := d.subnetView(id); ok && v.LeakedENIs > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	var ev []string
	total := 0
	for _, id := range ids {
		v := d.st.Subnets[id]
		total += v.LeakedENIs
		ev = append(ev, fmt.Sprintf("subnet analysis (EC2, %s): %d detached CNI ENI(s) in %s hold %d address(es); ipamwatch subnets --once lists them", v.At.UTC().Format(time.RFC3339), v.LeakedENIs, id, v.LeakedAddresses))
	}
	d.add(CauseLeakedENIs, measured{
		summary:  fmt.Sprintf("%d ENI(s) the CNI created are left detached in the node's subnet(s), holding addresses", total),
		evidence: ev, subnet: ids[0],
	})
}

// explained lists the causes that account for pods failing to get an IP; ip_pool_empty is the
// symptom left when none of them holds.
var explained = []Cause{
	CauseSubnetExhausted, CausePrefixFragmented, CauseENILimit, CauseENIQuota, CauseEC2Throttled,
	CauseUnauthorized, CauseAWSNodeRBACDenied, CauseIMDSFailure, CauseBranchENIExhausted,
	CauseMaxPodsExceedsIPCapacity, CauseWarmPoolCapped, CauseIPAMDUnreachable, CauseIPCooldownStarvation,
	CauseAWSNodeNotReady, CauseCustomNetworkingMisconfig, CauseSubnetDiscoveryExcluded, CauseCNIUnknownInstanceType,
}

// poolEmpty is the symptom: pods fail to get an IP and no cause above explains it.
func (d *diag) poolEmpty() {
	pressure, ev := d.poolPressure()
	if !pressure {
		return
	}
	for _, cause := range explained {
		if d.has(cause) {
			return
		}
	}
	c := d.cap
	ev = append(ev, fmt.Sprintf("pod IPs: %s held, %s assigned, %s free, %s in cooldown; ENIs %s of %s",
		fmtInt(c.HeldIPs), fmtInt(c.AssignedIPs), fmtInt(c.FreeIPs), fmtInt(c.CooldownIPs), fmtInt(c.ENIs), fmtInt(c.MaxENIs)))
	ev = append(ev, "no EC2 error, ENI-limit line or configuration problem explains it")
	d.add(CauseIPPoolEmpty, measured{
		summary:  "pods found no free IP in ipamd's pool, and no cause is known yet",
		evidence: ev,
	})
}

// headroom combines the ceilings into headroom, binding and nearest ceiling.
func (d *diag) headroom() (int, Ceiling, Ceiling) {
	c := d.cap
	var rooms []room
	ipKnown := true
	if c.KubeletMaxPods > 0 && c.Pods >= 0 {
		rooms = append(rooms, room{CeilingMaxPods, c.KubeletMaxPods - c.Pods, false})
	}
	// Pods already admitted but waiting for an IP take the next addresses; addresses in
	// cooldown cannot be handed out yet.
	pending := max(c.PendingPods, 0)
	cooldown := max(c.CooldownIPs, 0)
	if c.Mode != ModeIPv6 {
		// A cause that stops the pool from growing leaves only the free addresses.
		for _, cause := range []Cause{CauseSubnetExhausted, CausePrefixFragmented, CauseUnauthorized, CauseIMDSFailure, CauseEC2Throttled,
			CauseCustomNetworkingMisconfig, CauseSubnetDiscoveryExcluded} {
			if d.has(cause) && c.FreeIPs >= 0 {
				rooms = append(rooms, room{AdviceFor(cause).Ceiling, c.FreeIPs - pending, true})
			}
		}
		switch {
		case d.has(CauseENIQuota) && c.AttachedCapacity >= 0 && c.AssignedIPs >= 0:
			rooms = append(rooms, room{CeilingENI, c.AttachedCapacity - c.AssignedIPs - cooldown - pending, true})
		case c.MaxCapacity >= 0 && c.AssignedIPs >= 0:
			rooms = append(rooms, room{CeilingENI, c.MaxCapacity - c.AssignedIPs - cooldown - pending, false})
		default:
			ipKnown = false
		}
		if d.has(CauseWarmPoolCapped) && c.AssignedIPs >= 0 {
			rooms = append(rooms, room{CeilingWarmTarget, d.warmCap() - c.AssignedIPs - cooldown - pending, false})
		}
		if d.has(CauseIPCooldownStarvation) {
			rooms = append(rooms, room{CeilingWarmTarget, c.FreeIPs - pending, true})
		}
	}
	if c.BranchENIRequested > 0 && c.BranchENICapacity >= 0 {
		rooms = append(rooms, room{CeilingBranchENI, c.BranchENICapacity - c.BranchENIRequested, d.has(CauseBranchENIExhausted)})
	}
	if c.Mode == ModeIPv6 && len(rooms) == 0 {
		ipKnown = false
	}
	// ipamd not serving the plugin, or unable to compute the node's limits: no pod gets an IP.
	for _, cause := range []Cause{CauseAWSNodeNotReady, CauseCNIUnknownInstanceType} {
		if d.has(cause) {
			rooms = append(rooms, room{CeilingIPAMD, 0, true})
			ipKnown = true
		}
	}
	h, binding, nearest := headroom(rooms, ipKnown)
	if !ipKnown && d.has(CauseIPAMDUnreachable) {
		binding = CeilingIPAMD
	}
	return h, binding, nearest
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
