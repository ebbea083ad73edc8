// Package demo simulates one EKS node on loopback for `ipamwatch demo`, the end-to-end tests
// and the benchmarks: a fake ipamd introspection server, a fake CNI metrics endpoint, a fake
// instance metadata service, a fake Kubernetes API (client-go's fake clientset) and an ipamd.log
// plus plugin.log written over time, all driven by a small model of ipamd's allocation: pods
// come and go, the warm pool grows and shrinks, and the scenario's failure unfolds.
package demo

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/ipamd"
)

// cooldown is how long a released address stays out of the pool: ipamd's default, the one
// the agent judges the fake ipamd's answers with.
const cooldown = ipamd.DefaultCooldown

type addr struct {
	ip         string
	pod        string // "" = free
	namespace  string
	assignedAt time.Time
	releasedAt time.Time // non-zero = released (in cooldown until +30 s)
}

type slot struct {
	cidr   netip.Prefix
	prefix bool
	addrs  []*addr // /32: one; /28: 16, created lazily on first use
}

type eni struct {
	id       string
	mac      string
	device   int
	primary  bool
	trunk    bool
	subnet   *Subnet
	primIP   string
	slots    []*slot
	ipv6Pfx  string
	attached time.Time
}

type pod struct {
	name      string
	namespace string
	ip        string
	eni       string
	branch    bool
	created   time.Time
	lastTry   time.Time
}

// sim is the simulated node. All fields are guarded by mu.
type sim struct {
	mu    sync.Mutex
	spec  Spec
	start time.Time
	now   time.Time

	enis    []*eni
	pods    []*pod // non-host-network pods, with or without IP
	podSeq  int
	nextIP  map[string]netip.Addr // per subnet id: next address to hand out
	nextPfx map[string]netip.Addr
	subnets map[string]*Subnet

	// CNI counters.
	apiErrors   map[[2]string]float64 // {api, code}
	ipamdErrors map[string]float64
	noIP        float64
	addReq      float64
	delReq      float64

	lastReconcile time.Time
	logs          *logWriter
}

func newSim(spec Spec, start time.Time, logs *logWriter) *sim {
	s := &sim{
		spec: spec, start: start, now: start, logs: logs,
		nextIP: map[string]netip.Addr{}, nextPfx: map[string]netip.Addr{}, subnets: map[string]*Subnet{},
		apiErrors: map[[2]string]float64{}, ipamdErrors: map[string]float64{},
	}
	ns := spec.NodeSubnet
	s.subnets[ns.ID] = &ns
	if spec.PodSubnet != nil {
		ps := *spec.PodSubnet
		s.subnets[ps.ID] = &ps
	}
	// The primary ENI exists from boot; with security groups for pods the VPC resource
	// controller attaches a trunk ENI, which takes an ENI slot but holds no pod IPs.
	s.attachENI(s.subnets[ns.ID], true)
	if spec.Env["ENABLE_POD_ENI"] == "true" {
		s.attachENI(s.subnets[ns.ID], false).trunk = true
	}
	s.logs.ipamd("info", "Starting L-IPAMD "+spec.CNIVersion+"  ...")
	s.logs.ipamd("info", "Testing communication with server")
	return s
}

func (s *sim) podSubnet() *Subnet {
	if s.spec.PodSubnet != nil && s.spec.CustomApplied {
		return s.subnets[s.spec.PodSubnet.ID]
	}
	return s.subnets[s.spec.NodeSubnet.ID]
}

func (s *sim) customNetworking() bool {
	return s.spec.Env["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
}

// maxENIs is what ipamd may use: the instance limit, lowered by MAX_ENI.
func (s *sim) maxENIs() int {
	n := s.spec.InstanceENIs
	if v, err := strconv.Atoi(s.spec.Env["MAX_ENI"]); err == nil && v > 0 && v < n {
		n = v
	}
	return n
}

func (s *sim) slotsPerENI() int { return s.spec.IPv4PerENI - 1 }

func (s *sim) mode() string { return s.spec.Mode }

func (s *sim) allocIP(sub *Subnet) string {
	p := netip.MustParsePrefix(sub.CIDR)
	n, ok := s.nextIP[sub.ID]
	if !ok {
		n = p.Addr().Next().Next().Next().Next() // AWS reserves the first four
	}
	s.nextIP[sub.ID] = n.Next()
	return n.String()
}

func (s *sim) allocPrefix(sub *Subnet) netip.Prefix {
	p := netip.MustParsePrefix(sub.CIDR)
	n, ok := s.nextPfx[sub.ID]
	if !ok {
		// Prefixes come from the top half of the subnet so they never overlap /32s in the demo.
		b := p.Addr().As4()
		bits := 32 - p.Bits()
		half := uint32(1) << (bits - 1)
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += half
		n = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := n.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + 16
	s.nextPfx[sub.ID] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(n, 28)
}

func (s *sim) attachENI(sub *Subnet, primary bool) *eni {
	dev := len(s.enis)
	e := &eni{
		id:       fmt.Sprintf("eni-0%015x", 0xa11ce0000+dev*0x1111),
		mac:      fmt.Sprintf("0e:4a:%02x:9c:%02x:%02x", dev, 0x10+dev, 0x20+dev),
		device:   dev,
		primary:  primary,
		subnet:   sub,
		primIP:   s.allocIP(sub),
		attached: s.now,
	}
	if s.mode() == "ipv6" {
		e.ipv6Pfx = fmt.Sprintf("2600:1f14:abc:3e%02x::/80", dev)
	}
	s.enis = append(s.enis, e)
	return e
}

// addSlot gives e one more /32 or /28, honouring the scenario's subnet limits. It returns the
// EC2 error code when EC2 would refuse.
func (s *sim) addSlot(e *eni) string {
	sub := e.subnet
	failing := s.spec.Failure != "" && s.now.Sub(s.start) >= s.spec.FailAfter
	switch {
	case failing && s.spec.Failure == "throttled":
		return "RequestLimitExceeded"
	case failing && s.spec.Failure == "unauthorized":
		return "UnauthorizedOperation"
	}
	if s.mode() == "prefix" {
		if sub.FreeBlocks == 0 || (failing && s.spec.Failure == "fragmented") {
			return "InsufficientCidrBlocks"
		}
		if sub.FreeBlocks > 0 {
			sub.FreeBlocks--
			sub.FreeAddresses -= 16
		}
		e.slots = append(e.slots, &slot{cidr: s.allocPrefix(sub), prefix: true})
		return ""
	}
	if sub.FreeAddresses == 0 || (failing && s.spec.Failure == "subnet" && sub.FreeAddresses <= 0) {
		return "InsufficientFreeAddressesInSubnet"
	}
	if sub.FreeAddresses > 0 {
		sub.FreeAddresses--
	}
	ip := s.allocIP(sub)
	e.slots = append(e.slots, &slot{cidr: netip.PrefixFrom(netip.MustParseAddr(ip), 32), addrs: []*addr{{ip: ip}}})
	return ""
}

// counts returns total pod addresses, assigned, free (usable now) and cooldown.
func (s *sim) counts() (total, assigned, free, cool int) {
	for _, e := range s.enis {
		if !s.usable(e) {
			continue
		}
		for _, sl := range e.slots {
			n := 1
			if sl.prefix {
				n = 16
			}
			total += n
			used := 0
			for _, a := range sl.addrs {
				switch {
				case a.pod != "":
					assigned++
					used++
				case !a.releasedAt.IsZero() && s.now.Sub(a.releasedAt) < cooldown:
					cool++
					used++
				}
			}
			free += n - used
		}
	}
	return
}

// usable reports whether pods may get addresses from e (custom networking keeps the primary
// ENI out, when applied).
func (s *sim) usable(e *eni) bool {
	if e.trunk {
		return false
	}
	if e.primary && s.customNetworking() && s.spec.CustomApplied {
		return false
	}
	return true
}

// takeAddr hands out a free address, or returns nil.
func (s *sim) takeAddr(p *pod) *addr {
	for _, e := range s.enis {
		if !s.usable(e) {
			continue
		}
		for _, sl := range e.slots {
			if sl.prefix && len(sl.addrs) == 0 {
				base := sl.cidr.Addr()
				for i := 0; i < 16; i++ {
					sl.addrs = append(sl.addrs, &addr{ip: base.String()})
					base = base.Next()
				}
			}
			for _, a := range sl.addrs {
				if a.pod == "" && (a.releasedAt.IsZero() || s.now.Sub(a.releasedAt) >= cooldown) {
					a.pod, a.namespace, a.assignedAt, a.releasedAt = p.name, p.namespace, s.now, time.Time{}
					p.ip, p.eni = a.ip, e.id
					return a
				}
			}
		}
	}
	return nil
}

func (s *sim) release(p *pod) {
	for _, e := range s.enis {
		for _, sl := range e.slots {
			for _, a := range sl.addrs {
				if a.pod == p.name && a.ip == p.ip {
					a.pod, a.namespace, a.releasedAt = "", "", s.now
					return
				}
			}
		}
	}
}

// step advances the simulation to now.
func (s *sim) step(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
	elapsed := now.Sub(s.start)
	if s.mode() == "ipv6" {
		s.stepIPv6(elapsed)
		return
	}
	want := s.spec.TargetPods(elapsed)
	if limit := s.spec.KubeletMaxPods - s.spec.HostNetworkPods; want > limit {
		want = limit
	}
	if want < 0 {
		want = 0
	}
	// Scale down: newest pods first.
	for len(s.pods) > want {
		p := s.pods[len(s.pods)-1]
		s.pods = s.pods[:len(s.pods)-1]
		if p.ip != "" {
			s.release(p)
			s.delReq++
		}
	}
	for len(s.pods) < want {
		s.podSeq++
		s.pods = append(s.pods, &pod{name: fmt.Sprintf("web-%05d", s.podSeq), namespace: "shop", created: now})
	}
	branchWant := 0
	if s.spec.BranchPods != nil {
		branchWant = s.spec.BranchPods(elapsed)
	}
	nb := 0
	for _, p := range s.pods {
		if nb < branchWant {
			p.branch = true
			nb++
		}
	}
	// Pods without an IP retry about every 5 s, as kubelet's sandbox back-off does.
	for _, p := range s.pods {
		if p.ip != "" || now.Sub(p.lastTry) < 5*time.Second {
			continue
		}
		p.lastTry = now
		if p.branch && s.branchFull(p) {
			s.logs.plugin("error", fmt.Sprintf("Failed to setup branch ENI for pod %s/%s: failed to get Branch ENI resource: pod has no vpc.amazonaws.com/pod-eni resource allocated", p.namespace, p.name))
			continue
		}
		s.addReq++
		if s.takeAddr(p) == nil {
			s.noIP++
			s.logs.ipamd("error", "AssignPodIPAddress: no available IP/Prefix addresses for pod "+p.namespace+"/"+p.name)
			s.logs.plugin("error", "Error received from AddNetwork gRPC call for container: add cmd: failed to assign an IP address to container")
		} else {
			s.logs.ipamd("info", "Send AddNetworkReply: IPv4Addr: "+p.ip+", DeviceNumber: 0, err: <nil>")
		}
	}
	if now.Sub(s.lastReconcile) >= 5*time.Second {
		s.lastReconcile = now
		s.reconcile()
	}
}

func (s *sim) branchFull(p *pod) bool {
	used := 0
	for _, q := range s.pods {
		if q.branch && q.ip != "" && q != p {
			used++
		}
	}
	return used >= s.spec.BranchCapacity
}

// reconcile is the pool manager: grow to the warm target, within every ceiling.
func (s *sim) reconcile() {
	total, assigned, free, cool := s.counts()
	s.logs.ipamd("debug", fmt.Sprintf("IP pool stats: Total IPs/Prefixes = %d, AssignedIPs/CooldownIPs = %d/%d, c.maxIPsPerENI = %d", total, assigned, cool, s.slotsPerENI()))
	need := s.warmShortfall(free)
	pending := 0
	for _, p := range s.pods {
		if p.ip == "" {
			pending++
		}
	}
	if pending > need {
		need = pending
	}
	// ipamd stops growing once it holds as many IPs as kubelet allows pods.
	if total >= s.spec.KubeletMaxPods {
		need = 0
	}
	for need > 0 {
		e := s.eniWithRoom()
		if e == nil {
			if len(s.enis) >= s.maxENIs() {
				s.logs.ipamd("debug", "Skipping ENI allocation as the max ENI limit is already reached")
				return
			}
			sub := s.podSubnet()
			if sub.FreeAddresses == 0 && s.mode() == "secondary" {
				s.ec2Error("CreateNetworkInterface", "InsufficientFreeAddressesInSubnet", sub)
				return
			}
			e = s.attachENI(sub, false)
			s.logs.ipamd("info", fmt.Sprintf("Successfully created and attached a new ENI %s to instance", e.id))
			continue
		}
		if code := s.addSlot(e); code != "" {
			s.ec2Error("AssignPrivateIpAddresses", code, e.subnet)
			return
		}
		if s.mode() == "prefix" {
			need -= 16
		} else {
			need--
		}
	}
}

// warmShortfall is how many addresses the warm targets ask for beyond the free ones.
func (s *sim) warmShortfall(free int) int {
	atoi := func(k string) int { v, _ := strconv.Atoi(s.spec.Env[k]); return v }
	if w := atoi("WARM_IP_TARGET"); w > 0 {
		return max(w-free, 0)
	}
	if s.mode() == "prefix" {
		w := atoi("WARM_PREFIX_TARGET")
		if w == 0 {
			w = 1
		}
		return max(w*16-free, 0)
	}
	w := atoi("WARM_ENI_TARGET")
	return max(w*s.slotsPerENI()-free, 0)
}

func (s *sim) eniWithRoom() *eni {
	for _, e := range s.enis {
		if s.usable(e) && len(e.slots) < s.slotsPerENI() {
			return e
		}
	}
	return nil
}

// ec2Error logs an EC2 failure the way ipamd does (SDK v2 rendering) and counts it; the
// follow-up lines ipamd writes after the subnet codes come with it.
func (s *sim) ec2Error(api, code string, sub *Subnet) {
	s.apiErrors[[2]string{api, code}]++
	s.ipamdErrors["increaseIPPool"]++
	msg := map[string]string{
		"InsufficientFreeAddressesInSubnet": "The specified subnet " + sub.ID + " does not have enough free addresses to satisfy the request.",
		"InsufficientCidrBlocks":            "The specified subnet does not have enough free cidr blocks to satisfy the request.",
		"RequestLimitExceeded":              "Request limit exceeded.",
		"UnauthorizedOperation":             "You are not authorized to perform this operation.",
	}[code]
	reqID := fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", int(s.noIP)+len(s.apiErrors), s.now.UnixNano()%0xffffffffffff)
	line := fmt.Sprintf("Failed to increase pool size due to not able to allocate IPs/Prefixes: failed to allocate a private IP/Prefix address: "+
		"operation error EC2: %s, https response error StatusCode: 400, RequestID: %s, api error %s: %s", api, reqID, code, msg)
	s.logs.ipamd("error", line)
	if code == "InsufficientFreeAddressesInSubnet" || code == "InsufficientCidrBlocks" {
		s.logs.ipamd("warn", "Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation")
		s.logs.ipamd("debug", "Recently we had InsufficientCidr error hence will wait for 2m0s before retrying")
	}
	if code == "RequestLimitExceeded" {
		s.logs.ipamd("error", "failed to get rate limit token, retry quota exceeded, 0 available, 5 requested")
	}
}

func (s *sim) stepIPv6(elapsed time.Duration) {
	want := s.spec.TargetPods(elapsed)
	for len(s.pods) > want {
		s.pods = s.pods[:len(s.pods)-1]
	}
	for len(s.pods) < want {
		s.podSeq++
		p := &pod{name: fmt.Sprintf("web-%05d", s.podSeq), namespace: "shop", created: s.now}
		p.ip = fmt.Sprintf("2600:1f14:abc:3e00:0:%x::", s.podSeq)
		p.eni = s.enis[0].id
		s.pods = append(s.pods, p)
	}
	if s.now.Sub(s.lastReconcile) >= 5*time.Second {
		s.lastReconcile = s.now
		s.logs.ipamd("debug", "IPv6 mode: a /80 prefix per ENI, nothing to reconcile")
	}
}

// podView is a read-only copy of the pods for the Kubernetes fake.
type podView struct {
	name, namespace, ip string
	branch              bool
	created             time.Time
}

func (s *sim) podViews() []podView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]podView, 0, len(s.pods))
	for _, p := range s.pods {
		out = append(out, podView{name: p.name, namespace: p.namespace, ip: p.ip, branch: p.branch, created: p.created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
