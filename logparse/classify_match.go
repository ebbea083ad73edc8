package logparse

import "sync"

// The matcher finds every signature literal in a message in one pass. Each literal is
// registered under one "anchor" byte: the byte of the literal that is rarest in routine
// ipamd output. The scan loop looks every input byte up in a 256-entry table and only on an
// anchor byte checks the few literals registered under it, at the offset the anchor has in
// them. Routine lines hit few anchors, so a line costs one table walk plus a handful of
// short compares, independent of how many literals there are.

// pattern is one signature literal and what it means.
type pattern struct {
	lit  string // lower-cased when fold
	fold bool   // match ASCII case-insensitively (real logs vary in case)
	// class and code are what the line becomes when this literal decides it.
	class Class
	code  string
	// prio orders literals when several match: lower wins. The most specific cause (an EC2
	// error code) beats the wrapper that carries it ("Failed to increase pool size ...").
	prio uint8
	// min is the lowest level at which the literal counts. DEBUG counts only for the lines
	// that state a ceiling or a backoff; INFO/WARN count for error codes and pool-empty;
	// phrase-only signals need WARN (or a line without a level).
	min Level
	// followUp marks ipamd's lines written after both subnet codes: the class is inherited.
	followUp bool
	// id marks the eni-/subnet- identifier prefixes (extracted, never a class).
	id idKind
}

type idKind uint8

const (
	idNone idKind = iota
	idENI
	idSubnet
)

// Priorities: lower is more specific.
const (
	prioCapacityCode = 10
	prioFollowUp     = 15
	prioLimit        = 20
	prioInstanceType = 25
	prioThrottle     = 30
	prioControlPlane = 37 // the resource controller's event reasons: its role, not aws-node's
	prioAuth         = 40
	prioAPIServer    = 45
	prioENIConfig    = 47
	prioIMDS         = 50
	prioENISetup     = 55
	prioBranch       = 60
	prioPoolEmpty    = 70
	prioNotReady     = 75
	prioAllocFailed  = 80
	prioPanic        = 83
	prioInitFailed   = 85
)

// patterns returns the signature table. Wording comes from the VPC CNI's source, cited as
// file (first..last tag that has it) of github.com/aws/amazon-vpc-cni-k8s unless another
// repository is named; docs/classes.md shows a real public line for each class.
func patterns() []pattern {
	return []pattern{
		// subnet_exhausted
		{lit: "InsufficientFreeAddressesInSubnet", class: SubnetExhausted, code: "InsufficientFreeAddressesInSubnet", prio: prioCapacityCode, min: LevelInfo},
		{lit: "sufficient free ipv4 addresses or prefixes", fold: true, class: SubnetExhausted, code: "InvalidParameterValue", prio: prioCapacityCode, min: LevelInfo},
		{lit: "not enough free addresses in subnet", fold: true, class: SubnetExhausted, prio: prioCapacityCode + 1, min: LevelInfo},
		{lit: "subnet does not have enough free addresses", fold: true, class: SubnetExhausted, prio: prioCapacityCode + 1, min: LevelInfo},
		// prefix_fragmented
		{lit: "InsufficientCidrBlocks", class: PrefixFragmented, code: "InsufficientCidrBlocks", prio: prioCapacityCode, min: LevelInfo},
		{lit: "enough free cidr blocks", fold: true, class: PrefixFragmented, prio: prioCapacityCode + 1, min: LevelInfo},
		// subnet_discovery_excluded: subnet discovery found no subnet it may use for a
		// secondary ENI: "primary subnet is tagged with kubernetes.io/role/cni=0 - no valid
		// subnets available for ENI creation" and its two variants (pkg/awsutils/awsutils.go,
		// v1.22.0..v1.23.0).
		{lit: "no valid subnets available for eni creation", fold: true, class: SubnetDiscoveryExcluded, prio: prioCapacityCode + 2, min: LevelInfo},
		// follow-ups of either subnet code
		{lit: "unable to attach ips/prefixes for the eni", fold: true, followUp: true, prio: prioFollowUp, min: LevelDebug},
		{lit: "subnet doesn't seem to have enough ips", fold: true, followUp: true, prio: prioFollowUp, min: LevelDebug},
		{lit: "recently we had insufficientcidr", fold: true, followUp: true, prio: prioFollowUp, min: LevelDebug},
		// eni_quota (the account's regional quota) before eni_limit (the instance's ceiling)
		{lit: "NetworkInterfaceLimitExceeded", class: ENIQuota, code: "NetworkInterfaceLimitExceeded", prio: prioLimit - 1, min: LevelInfo},
		// eni_limit
		{lit: "AttachmentLimitExceeded", class: ENILimit, code: "AttachmentLimitExceeded", prio: prioLimit, min: LevelInfo},
		{lit: "PrivateIpAddressLimitExceeded", class: ENILimit, code: "PrivateIpAddressLimitExceeded", prio: prioLimit, min: LevelInfo},
		{lit: "as the max eni limit", fold: true, class: ENILimit, prio: prioLimit + 1, min: LevelDebug},
		{lit: "max eni already attached", fold: true, class: ENILimit, prio: prioLimit + 1, min: LevelDebug},
		{lit: "exceeded instance eni attachment limit", fold: true, class: ENILimit, prio: prioLimit + 1, min: LevelInfo},
		{lit: "no available device number", fold: true, class: ENILimit, prio: prioLimit + 1, min: LevelInfo},
		// cni_unknown_instance_type: the CNI's limits table does not know the instance type.
		// "Failed to get eni limit due to unknown instance type", "Failed to get eni IP limit
		// ..." (v1.0.0..v1.3.x; "ENI" from v1.4.0), "Failed to get hypervisor info ..." (v1.9.x)
		// and the error text "vpc ip resource(eni ip limit): unknown instance type"
		// (pkg/awsutils/awsutils.go, v1.0.0..v1.23.0; since v1.10.0 only when
		// DescribeInstanceTypes gives no limits either).
		{lit: "unknown instance type", fold: true, class: CNIUnknownInstanceType, prio: prioInstanceType, min: LevelWarn},
		// ec2_throttled. The code is followed by ":" in both SDK renderings; client-go's
		// "Throttling request took 1.04s" (a klog INFO line in aws-node's output) is not EC2.
		{lit: "RequestLimitExceeded", class: EC2Throttled, code: "RequestLimitExceeded", prio: prioThrottle, min: LevelInfo},
		{lit: "ThrottlingException", class: EC2Throttled, code: "ThrottlingException", prio: prioThrottle, min: LevelInfo},
		{lit: "Throttling:", class: EC2Throttled, code: "Throttling", prio: prioThrottle + 1, min: LevelInfo},
		{lit: "retry quota exceeded", fold: true, class: EC2Throttled, prio: prioThrottle + 2, min: LevelInfo},
		// branch_eni: the VPC resource controller's event reasons. Their messages may carry
		// UnauthorizedOperation or "is forbidden" for the controller's own role, which is the
		// cluster role's policy (AmazonEKSVPCResourceController), not aws-node's: the reason
		// wins (github.com/aws/amazon-vpc-resource-controller-k8s pkg/utils/events.go,
		// pkg/provider/branch).
		{lit: "TrunkENICreationFailed", class: BranchENI, prio: prioControlPlane, min: LevelInfo},
		{lit: "BranchAllocationFailed", class: BranchENI, prio: prioControlPlane, min: LevelInfo},
		{lit: "BranchENIAnnotationFailed", class: BranchENI, prio: prioControlPlane, min: LevelInfo},
		// unauthorized
		{lit: "UnauthorizedOperation", class: Unauthorized, code: "UnauthorizedOperation", prio: prioAuth, min: LevelInfo},
		{lit: "AccessDeniedException", class: Unauthorized, code: "AccessDeniedException", prio: prioAuth, min: LevelInfo},
		{lit: "AccessDenied", class: Unauthorized, code: "AccessDenied", prio: prioAuth + 1, min: LevelInfo},
		{lit: "not authorized to perform", fold: true, class: Unauthorized, prio: prioAuth + 2, min: LevelInfo},
		// The aws-node pod event (reason MissingIAMPermissions) and its message, which users
		// copy without the reason: "Unauthorized operation: failed to call %v due to missing
		// permissions. ..." (pkg/awsutils/awsutils.go, v1.12.0..v1.23.0).
		{lit: "MissingIAMPermissions", class: Unauthorized, prio: prioAuth + 2, min: LevelInfo},
		{lit: "due to missing permissions", fold: true, class: Unauthorized, prio: prioAuth + 2, min: LevelInfo},
		// aws_node_rbac_denied: Kubernetes RBAC, not IAM. The API server's message is
		// `<resource> is forbidden: User "system:serviceaccount:<ns>:<sa>" cannot <verb> ...`.
		{lit: "is forbidden: user ", fold: true, class: AWSNodeRBACDenied, prio: prioAuth - 1, min: LevelInfo},
		// aws_node_api_server_unreachable: ipamd cannot reach the Kubernetes API server.
		// "Unable to reach API Server, %v" (pkg/k8sapi/k8sutils.go, v1.12.0..v1.23.0; ", " became
		// ": " in the start-up wait of v1.19.4..), "error communicating with apiserver"
		// (pkg/k8sapi, v1.0.0..v1.23.0), "Failed to check API server connectivity"
		// (cmd/aws-k8s-agent/main.go, v1.11.0..v1.23.0), "Proceeding without API server
		// connectivity" (cmd/aws-k8s-agent/main.go, v1.19.4..v1.23.0, WARN), and "Failed to
		// communicate with K8S Server" (v1.2.0..v1.6.0, logged at INFO).
		{lit: "unable to reach api server", fold: true, class: AWSNodeAPIServerUnreachable, prio: prioAPIServer, min: LevelInfo},
		{lit: "error communicating with apiserver", fold: true, class: AWSNodeAPIServerUnreachable, prio: prioAPIServer, min: LevelInfo},
		{lit: "failed to check api server connectivity", fold: true, class: AWSNodeAPIServerUnreachable, prio: prioAPIServer, min: LevelInfo},
		{lit: "proceeding without api server connectivity", fold: true, class: AWSNodeAPIServerUnreachable, prio: prioAPIServer, min: LevelInfo},
		{lit: "failed to communicate with k8s server", fold: true, class: AWSNodeAPIServerUnreachable, prio: prioAPIServer, min: LevelInfo},
		// eniconfig_unavailable: custom networking is on and ipamd cannot use the node's
		// ENIConfig (missing, misnamed for the node's label or annotation, or unreadable).
		// "Failed to get pod ENI config" (ipamd/ipamd.go v1.2.0..v1.5.x, pkg/ipamd/ipamd.go
		// v1.6.0..v1.23.0), "error while retrieving eniconfig: %s" (pkg/eniconfig/eniconfig.go,
		// v1.10.0..v1.23.0), "eniconfig: eniconfig is not available" (pkg/eniconfig, v1.5.0..
		// v1.23.0), "Failed to attach any ENIs for custom networking" (pkg/ipamd/ipamd.go,
		// v1.13.0..v1.23.0, the node then stays not ready), and the resource controller's Node
		// event EniConfigNameNotFound: "couldn't find custom networking eniconfig name for node"
		// (amazon-vpc-resource-controller-k8s pkg/utils/events.go, pkg/node/manager).
		{lit: "failed to get pod eni config", fold: true, class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		{lit: "error while retrieving eniconfig", fold: true, class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		{lit: "eniconfig is not available", fold: true, class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		{lit: "failed to attach any enis for custom networking", fold: true, class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		{lit: "EniConfigNameNotFound", class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		{lit: "find custom networking eniconfig name", fold: true, class: ENIConfigUnavailable, prio: prioENIConfig, min: LevelInfo},
		// imds_failure
		{lit: "IMDSRequestError", class: IMDSFailure, code: "IMDSRequestError", prio: prioIMDS, min: LevelInfo},
		{lit: "InvalidNetworkInterfaceID.NotFound", class: IMDSFailure, code: "InvalidNetworkInterfaceID.NotFound", prio: prioIMDS, min: LevelInfo},
		{lit: "EC2MetadataRequestError", class: IMDSFailure, code: "EC2MetadataRequestError", prio: prioIMDS, min: LevelInfo},
		{lit: "EC2MetadataError", class: IMDSFailure, code: "EC2MetadataError", prio: prioIMDS, min: LevelInfo},
		{lit: "ec2imds", fold: true, class: IMDSFailure, prio: prioIMDS + 1, min: LevelInfo},
		{lit: "from instance metadata", fold: true, class: IMDSFailure, prio: prioIMDS + 1, min: LevelWarn},
		{lit: "from metadata service", fold: true, class: IMDSFailure, prio: prioIMDS + 1, min: LevelWarn},
		{lit: "no eni found at all in metadata", fold: true, class: IMDSFailure, prio: prioIMDS + 1, min: LevelWarn},
		{lit: "instance metadata does not match data store", fold: true, class: IMDSFailure, prio: prioIMDS + 1, min: LevelWarn},
		// The metadata endpoint itself in a failed request ("Get
		// http://169.254.169.254/latest/meta-data/...: request canceled", aws-sdk-go v1 wrapping).
		{lit: "169.254.169.254", class: IMDSFailure, prio: prioIMDS + 2, min: LevelWarn},
		// eni_setup_failed: an attached ENI's host networking could not be set up (link not
		// found by MAC, MTU, routes, rules). "setupENINetwork: ..." (pkg/networkutils/network.go,
		// v1.5.0..v1.23.0), "eni network setup: ..." (v1.0.0..v1.4.x, "ENI" from v1.4.0), and
		// the wrappers "failed to set up ENI %s network" (pkg/ipamd/ipamd.go, v1.5.0..v1.23.0;
		// "setup" before v1.5.0). ipamd's WARN "Error trying to set up ENI %s: %v" during
		// start-up counts when the error inside is one of these. Below imds_failure: an ENI
		// whose set-up failed on metadata is an IMDS problem.
		{lit: "setupENINetwork:", class: ENISetupFailed, prio: prioENISetup, min: LevelInfo},
		{lit: "eni network setup:", fold: true, class: ENISetupFailed, prio: prioENISetup, min: LevelInfo},
		{lit: "failed to set up eni", fold: true, class: ENISetupFailed, prio: prioENISetup + 1, min: LevelInfo},
		{lit: "failed to setup eni", fold: true, class: ENISetupFailed, prio: prioENISetup + 1, min: LevelInfo},
		// branch_eni (security groups for pods)
		// ipamd's RPC handler writes this at INFO (amazon-vpc-cni-k8s v1.12 to v1.23
		// pkg/ipamd/rpc_handler.go: log.Infof("Send AddNetworkReply: failed to get Branch ENI resource")).
		{lit: "failed to get branch eni resource", fold: true, class: BranchENI, prio: prioBranch, min: LevelInfo},
		{lit: "vpc.amazonaws.com/pod-eni", class: BranchENI, prio: prioBranch + 1, min: LevelWarn},
		{lit: "branch eni", fold: true, class: BranchENI, prio: prioBranch + 1, min: LevelWarn},
		{lit: "trunk", fold: true, class: BranchENI, prio: prioBranch + 2, min: LevelWarn},
		// ip_pool_empty (the symptom at pod ADD)
		{lit: "no available ip/prefix addresses", fold: true, class: IPPoolEmpty, prio: prioPoolEmpty, min: LevelInfo},
		{lit: "no available ip addresses", fold: true, class: IPPoolEmpty, prio: prioPoolEmpty, min: LevelInfo},
		// aws_node_not_ready: ipamd's gRPC server does not answer. The CNI plugin dials
		// 127.0.0.1:50051 (cmd/routed-eni-cni-plugin/cni.go, v1.0.0..v1.22.x) or
		// unix:///var/run/aws-node/ipamd.sock (v1.23.0) and logs the gRPC error, e.g. "dial tcp
		// 127.0.0.1:50051: connect: connection refused"; aws-node's readiness and liveness
		// probes run grpc-health-probe, whose failure reads "timeout: failed to connect service
		// ..." (grpc-ecosystem/grpc-health-probe main.go). A symptom: the other aws_node_*
		// classes and ipamd.log name the cause.
		{lit: "127.0.0.1:50051: connect", class: AWSNodeNotReady, prio: prioNotReady, min: LevelInfo},
		{lit: "ipamd.sock: connect", class: AWSNodeNotReady, prio: prioNotReady, min: LevelInfo},
		{lit: "failed to connect service", fold: true, class: AWSNodeNotReady, prio: prioNotReady, min: LevelInfo},
		// alloc_failed (the generic CNI ADD failure)
		{lit: "failed to assign an ip address to", fold: true, class: AllocFailed, prio: prioAllocFailed, min: LevelWarn},
		// aws_node_panic: a Go panic of ipamd or the aws-node entrypoint, as printed to the
		// container's stderr ("panic: runtime error: invalid memory address or nil pointer
		// dereference", docs/troubleshooting.md v1.10.x..v1.23.0).
		{lit: "panic: ", class: AWSNodePanic, prio: prioPanic, min: LevelWarn},
		// aws_node_init_failed: ipamd exited at start-up, or the entrypoint gave up waiting
		// for it; a more specific cause in the same line wins. "Initialization failure: %v"
		// (cmd/aws-k8s-agent/main.go, v1.5.0..v1.23.0; "initialization failure" in seelog
		// before), "Timed out waiting for IPAM daemon to start" (scripts/entrypoint.sh
		// v1.6.0..v1.12.x, cmd/aws-vpc-cni/main.go v1.13.0..v1.23.0) and "Failed to wait for
		// IPAM daemon to complete" (cmd/aws-vpc-cni/main.go, v1.12.6..v1.23.0: ipamd exited).
		// The waits themselves, "Checking for IPAM connectivity" and (v1.11, v1.12) "Retrying
		// waiting for IPAM-D", are logged on every healthy start too and stay none.
		{lit: "initialization failure", fold: true, class: AWSNodeInitFailed, prio: prioInitFailed, min: LevelWarn},
		{lit: "timed out waiting for ipam daemon", fold: true, class: AWSNodeInitFailed, prio: prioInitFailed, min: LevelWarn},
		{lit: "failed to wait for ipam daemon", fold: true, class: AWSNodeInitFailed, prio: prioInitFailed, min: LevelWarn},
		// identifiers
		{lit: "eni-", id: idENI},
		{lit: "subnet-", id: idSubnet},
	}
}

// routineSample is typical routine ipamd output; the byte frequencies in it pick each
// literal's anchor byte. It only tunes speed: any anchor choice gives the same results.
const routineSample = `IP pool is too low: available (19) < ENI target (1) * addrsPerENI (9)
AssignPodIPv4Address: Assign IP 10.4.128.118 to sandbox aws-cni/7c2f9a1b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8/eth0
Send AddNetworkReply: IPv4Addr: 10.4.128.118, IPv6Addr: , DeviceNumber: 0, err: <nil>
Received AddNetwork for NS /var/run/netns/cni-3f2a1b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b, Sandbox 7c2f9a1b3d4e5f60718293a4b5c6d7e8, ifname eth0
AddNetworkRequest: K8S_POD_NAME:"coredns-5d78c9869d-xkq2p" K8S_POD_NAMESPACE:"kube-system" K8S_POD_INFRA_CONTAINER_ID:"7c2f9a1b3d4e5f60718293a4b5c6d7e8" ContainerID:"7c2f9a1b3d4e" IfName:"eth0" NetworkName:"aws-cni" Netns:"/var/run/netns/cni-3f2a1b4c"
Found ENI: eni-0a1b2c3d4e5f60718, mac 0a:1b:2c:3d:4e:5f, device 2
Reconcile existing ENI eni-0a1b2c3d4e5f60718 IP pool
Handling http request: GET, from: 127.0.0.1:48812, URI: /v1/enis
Get free IP from prefix failed no free IP available in the prefix - 10.4.130.16/28
Successfully Reconciled ENI/IP pool
IP stats - total IPs: 28, assigned IPs: 5, cooldown IPs: 0
Total number of interfaces found: 3
Found IP addresses [10.4.128.118 10.4.128.119 10.4.128.120] on ENI 0a:1b:2c:3d:4e:5f
Trying to reconcile the ENI table
Node found "ip-10-4-129-144.eu-central-1.compute.internal" - no of taints - 0
`

// cand is one literal registered under an anchor byte at offset off within the literal.
type cand struct {
	p   *pattern
	off int
	// A second byte of the literal, at offset off+d from the anchor, in both cases when the
	// literal folds: a one-byte test that rejects most non-matches before the full compare.
	d          int
	low, upper byte
}

// newCand registers literal p under its byte at off, with the neighbouring byte as filter.
func newCand(p *pattern, off int) cand {
	d := 1
	if off+1 >= len(p.lit) {
		d = -1
	}
	c := cand{p: p, off: off, d: d, low: p.lit[off+d], upper: p.lit[off+d]}
	if p.fold {
		c.upper = upperOf(c.low)
	}
	return c
}

// table maps anchor bytes to the literals registered under them.
type table struct {
	slot  [256]uint8 // 0 = not an anchor byte, else 1 + index into cands (or a delimiter slot)
	cands [][]cand
}

// matcher is immutable after construction and shared by all Classifiers. It holds one
// table per level band, each with only the literals that count at that level: a DEBUG line
// (most of ipamd.log) is checked for the five DEBUG signatures and the ids only.
type matcher struct {
	pats []pattern
	tabs [3]table // debug, info, warn and above (and lines without a level)
}

func levelBand(l Level) int {
	switch l {
	case LevelDebug:
		return 0
	case LevelInfo:
		return 1
	}
	return 2
}

var sharedMatcher = sync.OnceValue(newMatcher)

func newMatcher() *matcher {
	m := &matcher{pats: patterns()}
	var freq [256]int
	for i := range freq {
		freq[i] = 1
	}
	for i := 0; i < len(routineSample); i++ {
		freq[routineSample[i]] += 4
	}
	bandLevel := [3]Level{LevelDebug, LevelInfo, LevelWarn}
	for band := range m.tabs {
		t := &m.tabs[band]
		for i := range m.pats {
			p := &m.pats[i]
			if p.id == idNone && p.min > bandLevel[band] {
				continue
			}
			// Pick the rarest byte; a byte that is already an anchor costs little more.
			bestOff, bestCost := 0, -1
			for j := 0; j < len(p.lit); j++ {
				b := p.lit[j]
				cost := freq[b]
				if p.fold && upperOf(b) != b {
					cost += freq[upperOf(b)]
				}
				if t.slot[b] != 0 {
					cost /= 4
				}
				if bestCost < 0 || cost < bestCost {
					bestOff, bestCost = j, cost
				}
			}
			b := p.lit[bestOff]
			if b == '"' || b == '\\' {
				panic("logparse: a signature literal contains a JSON delimiter: " + p.lit)
			}
			t.register(b, newCand(p, bestOff))
			if p.fold && upperOf(b) != b {
				t.register(upperOf(b), newCand(p, bestOff))
			}
		}
		t.slot['\\'] = slotBackslash
		t.slot['"'] = slotQuote
	}
	return m
}

func (t *table) register(b byte, c cand) {
	if t.slot[b] == 0 {
		t.cands = append(t.cands, nil)
		t.slot[b] = uint8(len(t.cands))
	}
	k := t.slot[b] - 1
	t.cands[k] = append(t.cands[k], c)
}

// hits is the outcome of one scan.
type hits struct {
	best   *pattern // the winning signature that counts at the line's level, or nil
	eni    int      // offset of the first eni- id, or -1
	subnet int      // offset of the first subnet- id, or -1
	quote  int      // in quote mode: offset of the first unescaped '"', or -1
	esc    bool     // in quote mode: a backslash escape occurs before quote
}

// Slots above any index into cands mark the JSON string delimiters.
const (
	slotBackslash = 254
	slotQuote     = 255
)

// scan walks s once and records the most specific signature that counts at level lvl, and
// the first ENI and subnet ids. In quote mode s starts inside a JSON string (zap's msg):
// the same pass also finds the string's closing quote and whether it holds escapes.
func (m *matcher) scan(s []byte, lvl Level, quote bool, h *hits) {
	h.best, h.eni, h.subnet, h.quote, h.esc = nil, -1, -1, -1, false
	if lvl == LevelUnknown {
		// Free text (a paste, an event) has no level: trust its content as a warning would.
		lvl = LevelWarn
	}
	t := &m.tabs[levelBand(lvl)]
	for i := 0; i < len(s); i++ {
		k := t.slot[s[i]]
		if k == 0 {
			continue
		}
		if k >= slotBackslash {
			if quote {
				if k == slotBackslash {
					h.esc = true
					i++
				} else {
					h.quote, quote = i, false
				}
			}
			continue
		}
		for _, c := range t.cands[k-1] {
			if j := i + c.d; j < 0 || j >= len(s) || s[j] != c.low && s[j] != c.upper {
				continue
			}
			start := i - c.off
			p := c.p
			if start < 0 || len(s)-start < len(p.lit) {
				continue
			}
			if p.id == idNone && (lvl < p.min || (h.best != nil && h.best.prio <= p.prio)) {
				continue
			}
			if !matchAt(s[start:start+len(p.lit)], p.lit, p.fold) {
				continue
			}
			switch p.id {
			case idNone:
				h.best = p
			case idENI:
				if h.eni < 0 && isIDAt(s, start, len(p.lit)) {
					h.eni = start
				}
			case idSubnet:
				// "Found subnet-id: subnet-78f17f20": the first "subnet-" is a word.
				if h.subnet < 0 && isIDAt(s, start, len(p.lit)) {
					h.subnet = start
				}
			}
		}
	}
}

// isIDAt reports whether an id prefix of n bytes at s[start] starts a word and is followed
// by at least the 8 hex digits of a real id (Classifier.id checks the rest).
func isIDAt(s []byte, start, n int) bool {
	if start > 0 && isWordByte(s[start-1]) {
		return false
	}
	i := start + n
	if len(s)-i < 8 {
		return false
	}
	for _, b := range s[i : i+8] {
		if !isHex(b) {
			return false
		}
	}
	return true
}

func matchAt(s []byte, lit string, fold bool) bool {
	if !fold {
		return string(s) == lit
	}
	for j := 0; j < len(lit); j++ {
		b := s[j]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lit[j] {
			return false
		}
	}
	return true
}

func upperOf(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - ('a' - 'A')
	}
	return b
}

func isWordByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_'
}
