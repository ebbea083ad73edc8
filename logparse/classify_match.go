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
	prioThrottle     = 30
	prioAuth         = 40
	prioIMDS         = 50
	prioBranch       = 60
	prioPoolEmpty    = 70
	prioAllocFailed  = 80
	prioOther        = 90
)

// patterns returns the signature table. Facts come from the VPC CNI's log formats
// (docs/classes.md lists one example line per class).
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
		// ec2_throttled
		{lit: "RequestLimitExceeded", class: EC2Throttled, code: "RequestLimitExceeded", prio: prioThrottle, min: LevelInfo},
		{lit: "ThrottlingException", class: EC2Throttled, code: "ThrottlingException", prio: prioThrottle, min: LevelInfo},
		{lit: "Throttling", class: EC2Throttled, code: "Throttling", prio: prioThrottle + 1, min: LevelInfo},
		{lit: "retry quota exceeded", fold: true, class: EC2Throttled, prio: prioThrottle + 2, min: LevelInfo},
		// unauthorized
		{lit: "UnauthorizedOperation", class: Unauthorized, code: "UnauthorizedOperation", prio: prioAuth, min: LevelInfo},
		{lit: "AccessDeniedException", class: Unauthorized, code: "AccessDeniedException", prio: prioAuth, min: LevelInfo},
		{lit: "AccessDenied", class: Unauthorized, code: "AccessDenied", prio: prioAuth + 1, min: LevelInfo},
		{lit: "not authorized to perform", fold: true, class: Unauthorized, prio: prioAuth + 2, min: LevelInfo},
		{lit: "MissingIAMPermissions", class: Unauthorized, prio: prioAuth + 2, min: LevelInfo},
		// aws_node_rbac_denied: Kubernetes RBAC, not IAM. The API server's message is
		// `<resource> is forbidden: User "system:serviceaccount:<ns>:<sa>" cannot <verb> ...`.
		{lit: "is forbidden: user ", fold: true, class: AWSNodeRBACDenied, prio: prioAuth - 1, min: LevelInfo},
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
		// branch_eni (security groups for pods)
		{lit: "BranchAllocationFailed", class: BranchENI, prio: prioBranch, min: LevelInfo},
		{lit: "TrunkENICreationFailed", class: BranchENI, prio: prioBranch, min: LevelInfo},
		// ipamd's RPC handler writes this at INFO (amazon-vpc-cni-k8s v1.12 to v1.23
		// pkg/ipamd/rpc_handler.go: log.Infof("Send AddNetworkReply: failed to get Branch ENI resource")).
		{lit: "failed to get branch eni resource", fold: true, class: BranchENI, prio: prioBranch, min: LevelInfo},
		{lit: "vpc.amazonaws.com/pod-eni", class: BranchENI, prio: prioBranch + 1, min: LevelWarn},
		{lit: "branch eni", fold: true, class: BranchENI, prio: prioBranch + 1, min: LevelWarn},
		{lit: "trunk", fold: true, class: BranchENI, prio: prioBranch + 2, min: LevelWarn},
		// ip_pool_empty (the symptom at pod ADD)
		{lit: "no available ip/prefix addresses", fold: true, class: IPPoolEmpty, prio: prioPoolEmpty, min: LevelInfo},
		{lit: "no available ip addresses", fold: true, class: IPPoolEmpty, prio: prioPoolEmpty, min: LevelInfo},
		// alloc_failed (the generic CNI ADD failure)
		{lit: "failed to assign an ip address to", fold: true, class: AllocFailed, prio: prioAllocFailed, min: LevelWarn},
		// startup failure without a more specific cause in the same line
		{lit: "initialization failure", fold: true, class: OtherError, prio: prioOther, min: LevelWarn},
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
			t.register(b, cand{p: p, off: bestOff})
			if p.fold && upperOf(b) != b {
				t.register(upperOf(b), cand{p: p, off: bestOff})
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
				if h.eni < 0 && (start == 0 || !isWordByte(s[start-1])) {
					h.eni = start
				}
			case idSubnet:
				if h.subnet < 0 && (start == 0 || !isWordByte(s[start-1])) {
					h.subnet = start
				}
			}
		}
	}
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
