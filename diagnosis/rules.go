package diagnosis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

func (d *diag) ipamdUnreachable() {
	s, ok := d.st.Sources[nodestate.SourceIPAMD]
	if !ok || s.Up {
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
	d.add(CauseIPAMDUnreachable,
		"ipamd's introspection endpoint does not answer: per-ENI capacity is unknown and, if aws-node is down, no pod gets an IP",
		ev,
		"Check that the aws-node pod on this node is Running and Ready and read its logs; if DISABLE_INTROSPECTION=true or INTROSPECTION_BIND_ADDRESS moved the endpoint, point ipamwatch at it or re-enable it.",
		fmt.Sprintf("kubectl -n kube-system get pod -l k8s-app=aws-node --field-selector spec.nodeName=%s -o wide", d.nodeName()))
}

func (d *diag) ipv6() {
	if d.cap.Mode != modeIPv6 {
		return
	}
	ev := []string{"ENABLE_IPv6=" + string(d.cfg.IPv6)}
	if d.st.IPAMD != nil {
		n := 0
		for _, e := range d.st.IPAMD.ENIs {
			n += e.IPv6Prefixes
		}
		ev = append(ev, fmt.Sprintf("%d IPv6 /80 prefix(es) on the node's ENIs", n))
	}
	d.add(CauseIPv6Mode,
		"IPv6 mode: each ENI carries an IPv6 /80 prefix, so the IPv4 address ceilings (subnet, ENI, prefixes) do not apply; kubelet max-pods is the ceiling",
		ev,
		"Nothing to fix. Density is bounded by kubelet max-pods (raise it with nodeadm maxPods / Karpenter kubelet.maxPods if needed).",
		d.allocatablePodsCmd())
}

func (d *diag) subnetDescribeCmd(subnet string) string {
	if subnet == "" {
		subnet = "<subnet-id>"
	}
	return fmt.Sprintf("aws ec2 describe-subnets --subnet-ids %s --query 'Subnets[].AvailableIpAddressCount'", subnet)
}

// subnetOf picks the subnet a failure most likely concerns: the one the log names, else the
// node's primary subnet.
func (d *diag) subnetOf(classes ...string) string {
	if d.st.Logs != nil {
		for _, c := range classes {
			if cs, ok := d.st.Logs.Classes[c]; ok && cs.SubnetID != "" {
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
	if d.st.IPAMD != nil {
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
// the subnet is also nearly full: the subnet's AvailableIpAddressCount tells them apart.
func (d *diag) subnetOrFragmentation() {
	subnetActive, subnetEv := d.classOrCode(classSubnetExhausted, codeInsufficientFreeAddresses)
	fragActive, fragEv := d.classOrCode(classPrefixFragmented, codeInsufficientCidrBlocks)
	// A follow-up line classed by its predecessor may carry the other code; trust the code.
	if cs, ok := d.class(classSubnetExhausted); ok && cs.Code == codeInsufficientCidrBlocks && !d.codeSeen(codeInsufficientFreeAddresses) {
		subnetActive = false
		fragActive = true
		fragEv = append(fragEv, subnetEv...)
		subnetEv = nil
	}
	if cs, ok := d.class(classPrefixFragmented); ok && cs.Code == codeInsufficientFreeAddresses {
		subnetActive = true
	}
	pressure, pressureEv := d.poolPressure()
	switch {
	case subnetActive:
		subnet := d.subnetOf(classSubnetExhausted, classPrefixFragmented)
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
		} else {
			ev = append(ev, "confirms: the subnet's AvailableIpAddressCount is near 0 (if it is in the hundreds, suspect prefix fragmentation or another subnet)")
		}
		fix := "Give pods more addresses: add a larger subnet (or a secondary VPC CIDR, e.g. 100.64.0.0/16, with custom networking ENIConfigs) and tag it kubernetes.io/role/cni=1 so subnet discovery (CNI v1.18+) uses it; free addresses by lowering WARM_ENI_TARGET / setting WARM_IP_TARGET and MINIMUM_IP_TARGET on nodes in this subnet."
		d.add(CauseSubnetExhausted,
			fmt.Sprintf("subnet %s has no free IPv4 addresses: ipamd cannot add IPs, prefixes or ENIs", orDash(subnet)),
			ev, fix, d.subnetDescribeCmd(subnet))
	case fragActive:
		subnet := d.subnetOf(classPrefixFragmented, classSubnetExhausted)
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
			d.add(CauseSubnetExhausted,
				fmt.Sprintf("subnet %s is out of addresses: no /28 prefix and hardly any address left (InsufficientCidrBlocks)", orDash(subnet)),
				ev,
				"Give pods more addresses: add a larger subnet (or a secondary VPC CIDR with custom networking ENIConfigs) tagged kubernetes.io/role/cni=1, and keep the warm pools small on nodes in this subnet.",
				d.subnetDescribeCmd(subnet))
			return
		case analysed && view.FreePrefixBlocks == 0:
			ev = append(ev, fmt.Sprintf("fragmentation confirmed by the subnet analysis (EC2, %s): %d free addresses but no free aligned /28 (largest free block %d addresses, %.0f%% of the free space unusable for prefixes)",
				view.At.UTC().Format(time.RFC3339), view.FreeAddresses, view.LargestFreeBlock, 100*view.FragmentationRatio))
		case analysed:
			ev = append(ev, fmt.Sprintf("the subnet analysis (EC2, %s) shows %d free /28 block(s) now: the failure may have been transient, raced other nodes, or concerns another subnet", view.At.UTC().Format(time.RFC3339), view.FreePrefixBlocks))
		default:
			ev = append(ev, "confirms fragmentation: the subnet's AvailableIpAddressCount is well above 16 yet `ipamwatch subnets` shows no free aligned /28 block; a count near 0 means the subnet is simply full")
		}
		d.add(CausePrefixFragmented,
			fmt.Sprintf("subnet %s has no free contiguous /28 block for a prefix (InsufficientCidrBlocks)", orDash(subnet)),
			ev,
			"Reserve /28 space for prefixes: create a subnet CIDR reservation of type prefix (aws ec2 create-subnet-cidr-reservation --reservation-type prefix), or move nodes to a new subnet used only for prefix delegation; as a stopgap recycle nodes holding scattered /32 secondary IPs in this subnet.",
			d.subnetDescribeCmd(subnet)+" && ipamwatch subnets --once --subnet-ids "+orDash(subnet))
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
	ok, ev := d.classOrCode(classENIQuota, codeNetworkInterfaceLimit)
	if !ok {
		return
	}
	ev = append(ev, fmt.Sprintf("ENIs attached: %s of %s; the regional quota blocks new ENIs on every node of the account and region", fmtInt(d.cap.ENIs), fmtInt(d.cap.MaxENIs)))
	d.add(CauseENIQuota,
		"EC2 refuses new network interfaces: the account's regional ENI quota (NetworkInterfaceLimitExceeded) is reached",
		ev,
		"Request a higher 'Network interfaces per Region' quota in Service Quotas (quota code L-DF5E4CA3), and delete detached ENIs left behind (status available).",
		"aws service-quotas get-service-quota --service-code vpc --quota-code L-DF5E4CA3 --query 'Quota.Value' && aws ec2 describe-network-interfaces --filters Name=status,Values=available --query 'length(NetworkInterfaces)'")
}

func (d *diag) throttled() {
	ok, ev := d.classOrCode(classEC2Throttled, throttleCodes...)
	if !ok {
		return
	}
	ev = append(ev, "the CNI counts an API error only after the SDK's retries, so each one is a failed allocation attempt")
	d.add(CauseEC2Throttled,
		"EC2 API calls from ipamd are throttled: IP and ENI allocation is delayed or fails",
		ev,
		"Reduce EC2 calls: avoid a small WARM_IP_TARGET that makes ipamd allocate and release constantly (raise it or use MINIMUM_IP_TARGET), stagger node scale-ups, look for other tools calling EC2 in the same account and region; ask AWS Support for a higher EC2 API rate limit if it persists.",
		d.metricsCmd("awscni_aws_api_error_count"))
}

func (d *diag) unauthorized() {
	ok, ev := d.classOrCode(classUnauthorized, unauthorizedCodes...)
	if !ok {
		return
	}
	d.add(CauseUnauthorized,
		"ipamd is not allowed to call EC2 (UnauthorizedOperation / AccessDenied): it cannot assign IPs or attach ENIs",
		ev,
		"Attach the AWS managed policy AmazonEKS_CNI_Policy (AmazonEKS_CNI_IPv6_Policy for IPv6) to the role aws-node uses: the IRSA / Pod Identity role of the aws-node service account, else the node instance role; remove SCPs or permission boundaries that deny ec2:AssignPrivateIpAddresses, ec2:CreateNetworkInterface, ec2:AttachNetworkInterface.",
		"kubectl -n kube-system get sa aws-node -o jsonpath='{.metadata.annotations.eks\\.amazonaws\\.com/role-arn}' && aws iam list-attached-role-policies --role-name <role-name>")
}

func (d *diag) imds() {
	ok, ev := d.classOrCode(classIMDS, codeIMDSRequestError)
	if !ok {
		return
	}
	d.add(CauseIMDSFailure,
		"ipamd cannot read the instance metadata service: it cannot discover or reconcile the node's ENIs",
		ev,
		"Make sure the instance metadata service is enabled (HttpEndpoint=enabled) and reachable from the host network; aws-node uses hostNetwork so an IMDSv2 hop limit of 1 is fine. Restart aws-node on the node once IMDS answers.",
		fmt.Sprintf("aws ec2 describe-instances --instance-ids %s --query 'Reservations[].Instances[].MetadataOptions'", d.instanceID()))
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
		if d.st.IPAMD == nil || !secondaryInUse(d.st) {
			return
		}
		cs, ok := d.class(classOtherError)
		if !ok || !mentionsPrefixSupport(cs.Example) {
			return
		}
		ev = append(ev, d.classEvidence(classOtherError, cs))
	}
	if d.st.IPAMD != nil {
		sec := 0
		for _, e := range d.st.IPAMD.ENIs {
			sec += e.SecondaryIPs
		}
		ev = append(ev, fmt.Sprintf("the datastore holds %d /32 secondary IPs and no /28 prefix: ipamd fell back to secondary-IP mode", sec))
	}
	d.add(CausePrefixDelegationUnsupported,
		fmt.Sprintf("prefix delegation is requested but %s is not a Nitro instance: ipamd ignores it and uses secondary IPs", d.instanceType()),
		ev,
		"Move the node group to a Nitro instance type (e.g. m5 -> m6i/m7i, t2 -> t3) to get prefix delegation, or set ENABLE_PREFIX_DELEGATION=false for these nodes and keep kubelet max-pods at the secondary-IP value (ipamwatch maxpods --instance-type <type>).",
		fmt.Sprintf("aws ec2 describe-instance-types --instance-types %s --query 'InstanceTypes[].Hypervisor'", d.instanceType()))
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

func (d *diag) maxPodsExceedsIPCapacity() {
	c := d.cap
	if c.Mode == modeIPv6 || c.KubeletMaxPods <= 0 || c.MaxCapacity < 0 {
		return
	}
	host, hostNote := c.HostNetworkPods, "host-network pods on the node"
	if host < 0 {
		host, hostNote = hostNetworkAllowance, "host-network pods assumed (aws-node, kube-proxy)"
	}
	if c.KubeletMaxPods-host <= c.MaxCapacity {
		return
	}
	ev := []string{
		fmt.Sprintf("kubelet max-pods %d - %d %s = %d pods that need an IP", c.KubeletMaxPods, host, hostNote, c.KubeletMaxPods-host),
		fmt.Sprintf("the node can ever hold %d pod IPs: %s", c.MaxCapacity, d.capacityFormula()),
		fmt.Sprintf("so up to %d admitted pods can never get an IP and stay in ContainerCreating", c.KubeletMaxPods-host-c.MaxCapacity),
	}
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	fix := fmt.Sprintf("Lower kubelet max-pods to %d (AL2 bootstrap --max-pods, AL2023 nodeadm spec.kubelet.config.maxPods, Bottlerocket settings.kubernetes.max-pods, Karpenter kubelet.maxPods) and recycle the nodes", c.MaxCapacity+host)
	if c.Mode == modeSecondary {
		fix += ", or enable prefix delegation (ENABLE_PREFIX_DELEGATION=true, Nitro only) to raise the IP capacity"
	}
	d.add(CauseMaxPodsExceedsIPCapacity,
		fmt.Sprintf("kubelet admits %d pods but the node can only ever give %d pod IPs", c.KubeletMaxPods, c.MaxCapacity),
		ev, fix+".", d.allocatablePodsCmd()+" && "+d.metricsCmd("awscni_ip_max"))
}

func (d *diag) capacityFormula() string {
	c := d.cap
	var b strings.Builder
	enis := fmt.Sprintf("%d ENIs", c.MaxENIs)
	if d.cfg.CustomNetworking.IsTrue() {
		enis += " - 1 primary under custom networking"
	}
	if hasTrunk(d.st, d.cfg) {
		enis += " - 1 trunk"
	}
	if strings.Contains(enis, " - ") {
		enis = "(" + enis + ")"
	}
	fmt.Fprintf(&b, "%s x %d slots", enis, c.SlotsPerENI)
	if c.Mode == modePrefix {
		b.WriteString(" x 16 per /28 prefix")
	}
	return b.String()
}

func (d *diag) maxPodsNotRaised() {
	c := d.cap
	if c.Mode != modePrefix || c.KubeletMaxPods <= 0 || c.MaxCapacity <= 0 {
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
	ev = append(ev, fmt.Sprintf("EKS recommends %d (up to 30 vCPUs) or %d (more vCPUs): ipamwatch maxpods --instance-type %s --prefix-delegation gives the exact value", RecommendedMaxPodsSmall, RecommendedMaxPodsLarge, d.instanceType()))
	d.add(CauseMaxPodsNotRaised,
		fmt.Sprintf("prefix delegation is on but kubelet max-pods is still %d: kubelet, not IPs, caps density", c.KubeletMaxPods),
		ev,
		fmt.Sprintf("Raise max-pods to %d (or 250 on instances with more than 30 vCPUs): AL2 bootstrap.sh --use-max-pods false --kubelet-extra-args '--max-pods=%d', AL2023 nodeadm spec.kubelet.config.maxPods: %d, Bottlerocket settings.kubernetes.max-pods, Karpenter EC2NodeClass spec.kubelet.maxPods; then recycle the nodes.", target, target, target),
		d.allocatablePodsCmd())
}

func (d *diag) eniLimit() {
	c := d.cap
	if c.Mode == modeIPv6 || d.has(CauseSubnetExhausted) || d.has(CausePrefixFragmented) {
		return
	}
	atMax := c.MaxENIs > 0 && c.ENIs >= c.MaxENIs
	signal, sigEv := d.classOrCode(classENILimit, codeAttachmentLimitExceeded)
	if !atMax && !signal {
		return
	}
	pressure, pEv := d.poolPressure()
	full := c.FreeIPs == 0 && c.AttachedCapacity > 0 && c.AssignedIPs >= c.AttachedCapacity-max(c.CooldownIPs, 0)
	// With free addresses left the ENIs do not bind yet: ipamd logs the ENI-limit line on every
	// reconcile at the limit, and a pool-empty line then is a burst that outran the pool.
	if c.FreeIPs >= 0 && !full {
		return
	}
	// A node full to its ENI limit with nothing waiting is simply dense, not failing.
	if !pressure && c.PendingPods <= 0 {
		return
	}
	ev := []string{fmt.Sprintf("ENIs attached: %s of %s (awscni_eni_max)", fmtInt(c.ENIs), fmtInt(c.MaxENIs))}
	ev = append(ev, fmt.Sprintf("pod IPs: %s assigned, %s free of %s the node can ever hold (%s)", fmtInt(c.AssignedIPs), fmtInt(c.FreeIPs), fmtInt(c.MaxCapacity), d.capacityFormula()))
	ev = append(ev, sigEv...)
	ev = append(ev, pEv...)
	if !signal {
		ev = append(ev, "the ENI-limit line is logged at DEBUG only: with AWS_VPC_K8S_CNI_LOGLEVEL above DEBUG it does not appear")
	}
	if c.CooldownIPs > 0 {
		ev = append(ev, fmt.Sprintf("%d address(es) are in cooldown (IP_COOLDOWN_PERIOD, default 30 s): pods churn faster than addresses come back", c.CooldownIPs))
	}
	host := max(c.HostNetworkPods, hostNetworkAllowance)
	fix := fmt.Sprintf("%s cannot attach more ENIs. ", d.instanceType())
	if c.KubeletMaxPods > c.MaxCapacity+host && c.MaxCapacity >= 0 {
		fix += fmt.Sprintf("Lower kubelet max-pods to %d so the scheduler stops sending pods the node cannot address, or use a larger instance type", c.MaxCapacity+host)
	} else {
		fix += "Use a larger instance type or spread the pods (kubelet max-pods already matches the ENIs)"
	}
	if c.Mode == modeSecondary {
		fix += ", or enable prefix delegation (ENABLE_PREFIX_DELEGATION=true, Nitro only) for 16 addresses per slot and raise max-pods with it"
	}
	if d.cfg.MaxENI != nil {
		fix += fmt.Sprintf("; MAX_ENI=%d also caps the ENIs", *d.cfg.MaxENI)
	}
	d.add(CauseENILimit,
		fmt.Sprintf("the node is at its ENI limit (%s ENIs) and its pod IPs are used up", fmtInt(c.MaxENIs)),
		ev, fix+".",
		d.enisCmd()+fmt.Sprintf(" && aws ec2 describe-instance-types --instance-types %s --query 'InstanceTypes[].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]'", d.instanceType()))
}

func (d *diag) branchENI() {
	c := d.cap
	cs, logged := d.class(classBranchENI)
	pressure := c.PendingPods > 0
	var ev []string
	switch {
	case c.BranchENICapacity > 0 && c.BranchENIRequested >= c.BranchENICapacity && (pressure || logged || c.BranchENIRequested > c.BranchENICapacity):
		ev = append(ev, fmt.Sprintf("pods on the node request %d vpc.amazonaws.com/pod-eni; the node advertises %d branch ENIs", c.BranchENIRequested, c.BranchENICapacity))
	case c.BranchENICapacity == 0 && logged && (d.cfg.PodENI.IsTrue() || c.BranchENIRequested > 0):
		ev = append(ev, "the node advertises no vpc.amazonaws.com/pod-eni capacity although ENABLE_POD_ENI is on or pods request branch ENIs: no trunk ENI (instance type not trunking-compatible, or no free ENI slot for the trunk)")
	case c.BranchENICapacity < 0 && logged && d.cfg.PodENI.IsTrue() && cs.Recent > 0:
		// No Kubernetes view (a log-collector bundle): the logged failures are the evidence.
		ev = append(ev, "ENABLE_POD_ENI=true and branch-ENI failures are logged; the node's vpc.amazonaws.com/pod-eni capacity and the pods' requests are not known here: confirm them with the command below")
	default:
		return
	}
	if logged {
		ev = append(ev, d.classEvidence(classBranchENI, cs))
	}
	if pressure {
		ev = append(ev, fmt.Sprintf("%d pod(s) scheduled to the node have no IP yet", c.PendingPods))
	}
	d.add(CauseBranchENIExhausted,
		"pods with their own security groups cannot get a branch ENI on this node",
		ev,
		"Branch ENIs per node are fixed by the instance type: use a larger trunking-compatible type, spread SecurityGroupPolicy pods (topology spread / anti-affinity), or move pods that do not need their own security groups off SecurityGroupPolicy selectors. Branch ENIs are managed by the VPC resource controller, not ipamd.",
		fmt.Sprintf("kubectl get node %s -o jsonpath='{.status.allocatable.vpc\\.amazonaws\\.com/pod-eni}' && kubectl get events -A --field-selector involvedObject.kind=Pod,reason=FailedCreatePodSandBox", d.nodeName()))
}

func (d *diag) warmConflict() {
	cfg := d.cfg
	var ev []string
	pos := func(p *int) bool { return p != nil && *p > 0 }
	zeroOrUnset := func(p *int) bool { return p == nil || *p == 0 }
	explicitZero := func(p *int) bool { return p != nil && *p == 0 }
	fix := ""
	pd := cfg.PrefixDelegation.IsTrue()
	if pd && (pos(cfg.WarmIPTarget) || pos(cfg.MinimumIPTarget)) && pos(cfg.WarmPrefixTarget) {
		ev = append(ev, fmt.Sprintf("prefix delegation with WARM_PREFIX_TARGET=%s and WARM_IP_TARGET=%s / MINIMUM_IP_TARGET=%s: the IP targets override WARM_PREFIX_TARGET and the two fight",
			intp(cfg.WarmPrefixTarget), intp(cfg.WarmIPTarget), intp(cfg.MinimumIPTarget)))
		fix = "Pick one: keep WARM_PREFIX_TARGET=1 and remove the IP targets (kubectl -n kube-system set env ds/aws-node WARM_IP_TARGET- MINIMUM_IP_TARGET-), or keep WARM_IP_TARGET/MINIMUM_IP_TARGET and remove WARM_PREFIX_TARGET."
	}
	if pd && zeroOrUnset(cfg.WarmPrefixTarget) && zeroOrUnset(cfg.WarmIPTarget) && zeroOrUnset(cfg.MinimumIPTarget) &&
		(explicitZero(cfg.WarmPrefixTarget) || explicitZero(cfg.WarmIPTarget) || explicitZero(cfg.MinimumIPTarget)) {
		ev = append(ev, fmt.Sprintf("prefix delegation with zero warm targets (WARM_PREFIX_TARGET=%s, WARM_IP_TARGET=%s, MINIMUM_IP_TARGET=%s): unsupported, ipamd keeps no spare prefix",
			intp(cfg.WarmPrefixTarget), intp(cfg.WarmIPTarget), intp(cfg.MinimumIPTarget)))
		fix = "Set WARM_PREFIX_TARGET=1 (or a positive WARM_IP_TARGET): kubectl -n kube-system set env ds/aws-node WARM_PREFIX_TARGET=1."
	}
	if !pd && cfg.PrefixDelegation != Unknown && explicitZero(cfg.WarmENITarget) && zeroOrUnset(cfg.WarmIPTarget) && zeroOrUnset(cfg.MinimumIPTarget) {
		ev = append(ev, "WARM_ENI_TARGET=0 with no WARM_IP_TARGET or MINIMUM_IP_TARGET: ipamd has no target that makes it keep spare IPs")
		fix = "Set a warm target: kubectl -n kube-system set env ds/aws-node WARM_ENI_TARGET=1 (or WARM_IP_TARGET=<pods started at once>)."
	}
	if pos(cfg.MinimumIPTarget) && d.cap.MaxCapacity > 0 && *cfg.MinimumIPTarget > d.cap.MaxCapacity {
		ev = append(ev, fmt.Sprintf("MINIMUM_IP_TARGET=%d exceeds the %d pod IPs the node can ever hold: ipamd keeps trying to allocate", *cfg.MinimumIPTarget, d.cap.MaxCapacity))
		if fix == "" {
			fix = fmt.Sprintf("Lower MINIMUM_IP_TARGET to at most %d: kubectl -n kube-system set env ds/aws-node MINIMUM_IP_TARGET=%d.", d.cap.MaxCapacity, d.cap.MaxCapacity)
		}
	}
	if len(ev) == 0 {
		return
	}
	ev = append(ev, "settings from "+cfg.EnvSource)
	d.add(CauseWarmTargetConflict,
		"the CNI's warm-pool settings conflict: ipamd does not keep the pool you expect",
		ev, fix, awsNodeEnvCmd())
}

func (d *diag) hoarding() {
	c := d.cap
	if c.Mode == modeIPv6 || c.FreeIPs < 0 || c.AssignedIPs < 0 {
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
	fix := fmt.Sprintf("If the subnet is tight, hold fewer idle addresses: kubectl -n kube-system set env ds/aws-node WARM_IP_TARGET=5 MINIMUM_IP_TARGET=%d (about the pods a node usually runs) instead of a whole warm ENI.", max(c.AssignedIPs, 10))
	if c.Mode == modePrefix {
		fix = "If the subnet is tight, keep one spare /28 at most: WARM_PREFIX_TARGET=1 with no WARM_ENI_TARGET above 0, or use WARM_IP_TARGET/MINIMUM_IP_TARGET instead of WARM_PREFIX_TARGET (not both)."
	}
	d.add(CauseWarmPoolHoarding,
		fmt.Sprintf("the node holds %d idle pod IPs for %d assigned: addresses other nodes in the subnet cannot use", idle, c.AssignedIPs),
		ev, fix, d.enisCmd())
}

func (d *diag) customNetworking() {
	if !d.cfg.CustomNetworking.IsTrue() || d.st.IPAMD == nil {
		return
	}
	primary := d.node.PrimarySubnet
	var offenders []string
	pods := 0
	enis := append([]nodestate.ENI(nil), d.st.IPAMD.ENIs...)
	sort.Slice(enis, func(i, j int) bool { return enis[i].ID < enis[j].ID })
	for _, e := range enis {
		if e.Assigned <= 0 {
			continue
		}
		switch {
		case e.IsPrimary:
			offenders = append(offenders, fmt.Sprintf("primary ENI %s (subnet %s) carries %d pod IP(s)", e.ID, orDash(e.SubnetID), e.Assigned))
			pods += e.Assigned
		case primary != "" && e.SubnetID == primary:
			offenders = append(offenders, fmt.Sprintf("ENI %s is in the node's own subnet %s and carries %d pod IP(s)", e.ID, primary, e.Assigned))
			pods += e.Assigned
		}
	}
	if len(offenders) == 0 {
		return
	}
	ev := append([]string{fmt.Sprintf("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true, ENIConfig %q", orDash(d.cfg.ENIConfig))}, offenders...)
	if d.st.Kube != nil && !d.st.Kube.CreationTime.IsZero() {
		ev = append(ev, fmt.Sprintf("node created %s: custom networking applies only to ENIs attached after it was enabled", d.st.Kube.CreationTime.UTC().Format(time.RFC3339)))
	}
	d.add(CauseCustomNetworkingNotApplied,
		fmt.Sprintf("custom networking is on but %d pod IP(s) sit in the node's own subnet: the node predates the change", pods),
		ev,
		"Recycle the node (kubectl cordon, kubectl drain --ignore-daemonsets --delete-emptydir-data, then terminate it) so new ENIs attach in the ENIConfig subnet; check that the node's ENIConfig exists and names a subnet in the node's availability zone.",
		d.enisCmd()+fmt.Sprintf(" && kubectl get eniconfig %s -o jsonpath='{.spec.subnet}'", eniConfigOrPlaceholder(d.cfg.ENIConfig)))
}

func eniConfigOrPlaceholder(s string) string {
	if s == "" || s == "default" {
		return "<eniconfig-name>"
	}
	return s
}

// poolEmpty is the symptom: pods fail to get an IP and no cause above explains it.
func (d *diag) poolEmpty() {
	pressure, ev := d.poolPressure()
	if !pressure {
		return
	}
	for _, cause := range []string{
		CauseSubnetExhausted, CausePrefixFragmented, CauseENILimit, CauseENIQuota, CauseEC2Throttled,
		CauseUnauthorized, CauseIMDSFailure, CauseBranchENIExhausted, CauseMaxPodsExceedsIPCapacity,
		CauseIPAMDUnreachable,
	} {
		if d.has(cause) {
			return
		}
	}
	c := d.cap
	ev = append(ev, fmt.Sprintf("pod IPs: %s held, %s assigned, %s free, %s in cooldown; ENIs %s of %s",
		fmtInt(c.HeldIPs), fmtInt(c.AssignedIPs), fmtInt(c.FreeIPs), fmtInt(c.CooldownIPs), fmtInt(c.ENIs), fmtInt(c.MaxENIs)))
	ev = append(ev, "no EC2 error, ENI-limit line or configuration problem explains it")
	d.add(CauseIPPoolEmpty,
		"pods found no free IP in ipamd's pool, and no cause is known yet",
		ev,
		"Look for the cause ipamd did not log: set AWS_VPC_K8S_CNI_LOGLEVEL=DEBUG to see the ENI-limit line, check the warm targets (a small WARM_IP_TARGET refills slowly during bursts) and whether IP_COOLDOWN_PERIOD holds many released IPs.",
		d.enisCmd())
}

// headroom combines the ceilings into headroom, binding and nearest ceiling.
func (d *diag) headroom() (int, string, string) {
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
	if c.Mode != modeIPv6 {
		blocked := []struct {
			cause, ceiling string
		}{
			{CauseSubnetExhausted, CeilingSubnet},
			{CausePrefixFragmented, CeilingPrefixFragmentation},
			{CauseUnauthorized, CeilingUnauthorized},
			{CauseIMDSFailure, CeilingIMDS},
			{CauseEC2Throttled, CeilingThrottling},
		}
		for _, b := range blocked {
			if d.has(b.cause) && c.FreeIPs >= 0 {
				rooms = append(rooms, room{b.ceiling, c.FreeIPs - pending, true})
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
	}
	if c.BranchENIRequested > 0 && c.BranchENICapacity >= 0 {
		rooms = append(rooms, room{CeilingBranchENI, c.BranchENICapacity - c.BranchENIRequested, d.has(CauseBranchENIExhausted)})
	}
	if c.Mode == modeIPv6 && len(rooms) == 0 {
		ipKnown = false
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
