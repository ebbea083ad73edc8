package forecast

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AddressesPerPrefix is the size of a delegated IPv4 prefix (/28).
const AddressesPerPrefix = 16

// ErrInvalidInput is wrapped by every input error of this package.
var ErrInvalidInput = errors.New("invalid forecast input")

// Settings are the aws-node settings that shape how many addresses ipamd holds, resolved the
// way ipamd resolves them (see RawSettings.Resolve): zero means unset for the IP targets and
// MaxENI.
type Settings struct {
	PrefixDelegation bool `json:"prefix_delegation"`
	WarmENITarget    int  `json:"warm_eni_target"`
	WarmIPTarget     int  `json:"warm_ip_target"`
	MinimumIPTarget  int  `json:"minimum_ip_target"`
	WarmPrefixTarget int  `json:"warm_prefix_target"`
	MaxENI           int  `json:"max_eni,omitempty"`
	CustomNetworking bool `json:"custom_networking"`
	// PodENI is ENABLE_POD_ENI on a trunking-compatible instance type: the trunk ENI takes one
	// ENI slot (ipamd hasRoomForEni reserves it even before the trunk is attached).
	PodENI bool `json:"pod_eni"`
}

// RawSettings are the settings as read from the aws-node env: nil = not set.
type RawSettings struct {
	PrefixDelegation bool
	CustomNetworking bool
	PodENI           bool
	WarmENITarget    *int
	WarmIPTarget     *int
	MinimumIPTarget  *int
	WarmPrefixTarget *int
	MaxENI           *int
}

// Resolve applies ipamd's defaults (v1.23.0 pkg/ipamd/ipamd.go getWarmENITarget,
// getWarmIPTarget, getMinimumIPTarget, getWarmPrefixTarget, getMaxENI): WARM_ENI_TARGET unset
// or negative is 1; the IP targets and WARM_PREFIX_TARGET unset or negative are 0; MAX_ENI
// below 1 is no limit.
func (r RawSettings) Resolve() Settings {
	nonNeg := func(p *int, def int) int {
		if p == nil || *p < 0 {
			return def
		}
		return *p
	}
	s := Settings{
		PrefixDelegation: r.PrefixDelegation,
		CustomNetworking: r.CustomNetworking,
		PodENI:           r.PodENI,
		WarmENITarget:    nonNeg(r.WarmENITarget, 1),
		WarmIPTarget:     nonNeg(r.WarmIPTarget, 0),
		MinimumIPTarget:  nonNeg(r.MinimumIPTarget, 0),
		WarmPrefixTarget: nonNeg(r.WarmPrefixTarget, 0),
	}
	if r.MaxENI != nil && *r.MaxENI >= 1 {
		s.MaxENI = *r.MaxENI
	}
	return s
}

// RawSettingsFromEnv reads the settings from the aws-node container's env the way ipamd does
// (strconv.Atoi for the numbers, strconv.ParseBool for the switches; what does not parse is
// unset). It is for callers that know only the env, such as the cluster view; the node agent
// reports its own reading (diagnosis.Config).
func RawSettingsFromEnv(env map[string]string) RawSettings {
	num := func(k string) *int {
		if v, err := strconv.Atoi(strings.TrimSpace(env[k])); err == nil {
			return &v
		}
		return nil
	}
	on := func(k string) bool {
		b, err := strconv.ParseBool(strings.TrimSpace(env[k]))
		return err == nil && b
	}
	return RawSettings{
		PrefixDelegation: on("ENABLE_PREFIX_DELEGATION"),
		CustomNetworking: on("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"),
		PodENI:           on("ENABLE_POD_ENI"),
		WarmENITarget:    num("WARM_ENI_TARGET"),
		WarmIPTarget:     num("WARM_IP_TARGET"),
		MinimumIPTarget:  num("MINIMUM_IP_TARGET"),
		WarmPrefixTarget: num("WARM_PREFIX_TARGET"),
		MaxENI:           num("MAX_ENI"),
	}
}

// DefaultSettings is ipamd with an empty env: secondary IPs, WARM_ENI_TARGET=1.
func DefaultSettings() Settings { return Settings{WarmENITarget: 1} }

// Mode is which of ipamd's four allocation schemes a Settings selects.
type Mode string

// The allocation schemes.
const (
	// ModeWarmENI: secondary IPs, whole ENIs kept warm (WARM_ENI_TARGET).
	ModeWarmENI Mode = "warm_eni"
	// ModeWarmIP: secondary IPs, WARM_IP_TARGET and/or MINIMUM_IP_TARGET.
	ModeWarmIP Mode = "warm_ip"
	// ModeWarmPrefix: /28 prefixes, WARM_PREFIX_TARGET.
	ModeWarmPrefix Mode = "warm_prefix"
	// ModePrefixIP: /28 prefixes sized by WARM_IP_TARGET and/or MINIMUM_IP_TARGET.
	ModePrefixIP Mode = "prefix_ip"
)

// ipTargets is ipamd's warmIPTargetsDefined: either IP target non-zero. They take precedence
// over WARM_ENI_TARGET (isDatastorePoolTooLow) and over WARM_PREFIX_TARGET (getPrefixesNeeded).
func (s Settings) ipTargets() bool { return s.WarmIPTarget != 0 || s.MinimumIPTarget != 0 }

// Mode returns the allocation scheme ipamd runs with these settings.
func (s Settings) Mode() Mode {
	switch {
	case s.PrefixDelegation && s.ipTargets():
		return ModePrefixIP
	case s.PrefixDelegation:
		return ModeWarmPrefix
	case s.ipTargets():
		return ModeWarmIP
	default:
		return ModeWarmENI
	}
}

// String names the settings that decide the claim, in the env's spelling, for people:
// "WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10".
func (s Settings) String() string {
	var parts []string
	add := func(name string, v int) { parts = append(parts, name+"="+strconv.Itoa(v)) }
	if s.PrefixDelegation {
		parts = append(parts, "ENABLE_PREFIX_DELEGATION=true")
	}
	switch s.Mode() {
	case ModeWarmENI:
		add("WARM_ENI_TARGET", s.WarmENITarget)
	case ModeWarmPrefix:
		add("WARM_PREFIX_TARGET", s.WarmPrefixTarget)
	case ModeWarmIP, ModePrefixIP:
		if s.WarmIPTarget != 0 {
			add("WARM_IP_TARGET", s.WarmIPTarget)
		}
		if s.MinimumIPTarget != 0 {
			add("MINIMUM_IP_TARGET", s.MinimumIPTarget)
		}
	}
	if s.MaxENI != 0 {
		add("MAX_ENI", s.MaxENI)
	}
	if s.CustomNetworking {
		parts = append(parts, "custom networking")
	}
	if s.PodENI {
		parts = append(parts, "ENABLE_POD_ENI=true")
	}
	return strings.Join(parts, ", ")
}

// Limits are the node's facts that bound ipamd.
type Limits struct {
	InstanceType string `json:"instance_type,omitempty"`
	// ENIs on the default network card (the CNI's ENILimit).
	ENIs int `json:"enis"`
	// IPv4PerENI is the per-ENI IPv4 limit, the ENI's primary address included.
	IPv4PerENI int `json:"ipv4_per_eni"`
	// MaxPods is the node's pod capacity (kubelet max-pods): ipamd stops growing the pool once
	// it holds that many addresses.
	MaxPods int `json:"max_pods"`
}

// Validate says what is wrong with l, if anything.
func (l Limits) Validate() error {
	switch {
	case l.ENIs < 1:
		return fmt.Errorf("%w: ENIs must be at least 1, got %d", ErrInvalidInput, l.ENIs)
	case l.IPv4PerENI < 2:
		return fmt.Errorf("%w: IPv4 addresses per ENI must be at least 2 (the primary plus one), got %d", ErrInvalidInput, l.IPv4PerENI)
	case l.MaxPods < 1:
		return fmt.Errorf("%w: max pods must be at least 1, got %d", ErrInvalidInput, l.MaxPods)
	}
	return nil
}

// Binding names what stopped the pool from growing further.
type Binding string

// Bindings.
const (
	// BindingTarget: the warm settings are met; the pool would grow with more pods.
	BindingTarget Binding = "target"
	// BindingMaxPods: ipamd holds at least max-pods addresses and stops growing.
	BindingMaxPods Binding = "max_pods"
	// BindingENILimit: every ENI ipamd may use is attached and full.
	BindingENILimit Binding = "eni_limit"
	// BindingMinimumIPTarget: MINIMUM_IP_TARGET without WARM_IP_TARGET caps the pool.
	BindingMinimumIPTarget Binding = "minimum_ip_target"
)

// Hold is what a node holds: ENIs, slots on them and the subnet addresses they take.
type Hold struct {
	// ENIs ipamd manages, the primary included (the trunk ENI is not counted).
	ENIs int `json:"enis"`
	// Slots are secondary IPs, or /28 prefixes under prefix delegation.
	Slots int `json:"slots"`
	// PodAddresses are the addresses the slots give pods (Slots, or 16 per prefix).
	PodAddresses int `json:"pod_addresses"`
	// Idle are pod addresses no pod uses: the warm pool.
	Idle int `json:"idle"`
	// NodeSubnet and PodSubnet are the addresses held in the node's subnet and, under custom
	// networking, in the ENIConfig's subnet (0 without custom networking): ENI primary
	// addresses, secondary IPs and 16 per prefix, the way ipamwatch_subnet_node_held_addresses
	// counts them.
	NodeSubnet int `json:"node_subnet_addresses"`
	PodSubnet  int `json:"pod_subnet_addresses"`
}

// Addresses is the node's total across subnets.
func (h Hold) Addresses() int { return h.NodeSubnet + h.PodSubnet }

// PodSubnetAddresses is what the node holds in the subnet its pods' addresses come from.
func (h Hold) PodSubnetAddresses(custom bool) int {
	if custom {
		return h.PodSubnet
	}
	return h.NodeSubnet
}

// Claim is the steady state ipamd settles in on a node that scaled up to Pods pods.
type Claim struct {
	Mode Mode `json:"mode"`
	// Pods asked for, and how many of them get an address.
	Pods       int `json:"pods"`
	PodsPlaced int `json:"pods_placed"`
	// PodCapacity is the most pods these settings ever give an address on this node.
	PodCapacity int     `json:"pod_capacity"`
	Binding     Binding `json:"binding"`
	// Hold is the state with pods packed into as few prefixes as possible; Worst is the most a
	// pod placement can lead to. They differ only with WARM_PREFIX_TARGET >= 2: ipamd hands a
	// pod the first free address of a randomly ordered prefix (DataStore.AssignPodIPv4Address
	// ranges over Go maps), so pods spread over prefixes, fewer prefixes look free, and
	// getPrefixesNeeded asks for up to WARM_PREFIX_TARGET prefixes at once.
	Hold  Hold `json:"hold"`
	Worst Hold `json:"worst"`
	// Oscillates is true where ipamd frees and re-adds an ENI or prefix every minute or so
	// (zero warm targets at an exact multiple of the slot size); the hold is the peak.
	Oscillates bool `json:"oscillates,omitempty"`
}

// nodeShape is the arithmetic both Claim and PodCapacity need.
type nodeShape struct {
	mode     Mode
	size     int // addresses per slot: 1 or 16
	perENI   int // slots per ENI
	podENIs  int // ENIs that can carry pod addresses
	capSlots int // podENIs x perENI
	mpSlots  int // fewest slots that reach max-pods addresses
	trunk    bool
}

func shape(s Settings, l Limits) (nodeShape, error) {
	if err := l.Validate(); err != nil {
		return nodeShape{}, err
	}
	for name, v := range map[string]int{
		"WARM_ENI_TARGET": s.WarmENITarget, "WARM_IP_TARGET": s.WarmIPTarget, "MINIMUM_IP_TARGET": s.MinimumIPTarget,
		"WARM_PREFIX_TARGET": s.WarmPrefixTarget, "MAX_ENI": s.MaxENI,
	} {
		if v < 0 {
			return nodeShape{}, fmt.Errorf("%w: %s must not be negative, got %d", ErrInvalidInput, name, v)
		}
	}
	sh := nodeShape{mode: s.Mode(), size: 1}
	if s.PrefixDelegation {
		sh.size = AddressesPerPrefix
	}
	// GetENIIPv4Limit: the ENI's primary address never goes to a pod; under prefix delegation
	// each remaining slot takes a /28 (GetIPv4Limit).
	sh.perENI = l.IPv4PerENI - 1
	// getMaxENI: MAX_ENI lowers the instance's limit, never raises it.
	maxENI := l.ENIs
	if s.MaxENI >= 1 && s.MaxENI < maxENI {
		maxENI = s.MaxENI
	}
	// tryEnableSecurityGroupsForPods asks for the trunk ENI only while an ENI slot is free
	// (GetENIs() < maxENI; at start only the primary is attached), and hasRoomForEni keeps that
	// slot for it.
	sh.trunk = s.PodENI && maxENI >= 2
	if sh.trunk {
		maxENI--
	}
	// GetAllocatableENIs(skipPrimary=useCustomNetworking): under custom networking the primary
	// ENI gets no pod addresses.
	sh.podENIs = maxENI
	if s.CustomNetworking {
		sh.podENIs--
	}
	sh.capSlots = sh.podENIs * sh.perENI
	// isDatastorePoolTooLow: "If max pods has been reached, pool is not too low" once
	// TotalIPs >= maxPods.
	sh.mpSlots = ceilDiv(l.MaxPods, sh.size)
	return sh, nil
}

// NodeClaim returns the steady state of a node with limits l and settings s after its pods grew
// one by one (with ipamd's 5-second pool loop in between) to pods; see Claim.
func NodeClaim(s Settings, l Limits, pods int) (Claim, error) {
	sh, err := shape(s, l)
	if err != nil {
		return Claim{}, err
	}
	if pods < 0 {
		return Claim{}, fmt.Errorf("%w: pods must not be negative, got %d", ErrInvalidInput, pods)
	}
	c := Claim{Mode: sh.mode, Pods: pods}

	// target is the slot count the warm settings ask for at p placed pods, with pods packed;
	// bounded reports whether it stays put when pods exceed it (MINIMUM_IP_TARGET alone).
	// t0 is the target of an empty node, the first allocation, which ipamd makes in ENI-sized
	// chunks (tryAssignIPs/tryAssignPrefixes fill one ENI per loop).
	w := s.WarmIPTarget
	minIPs := s.MinimumIPTarget
	var target func(p int) int
	bounded := false
	switch sh.mode {
	case ModeWarmENI:
		// isDatastorePoolTooLow: low while available < maxIPsPerENI x WARM_ENI_TARGET, or
		// available == 0 with a zero target; increaseDatastorePool then fills an ENI
		// (tryAssignIPs) or attaches a full one (tryAllocateENI, GetENIResourcesToAllocate).
		// Available is TotalIPs - AssignedIPs (DataStoreStats.AvailableAddresses), cooldown
		// addresses included.
		m := sh.perENI
		warm := max(m*s.WarmENITarget, 1)
		target = func(p int) int { return ceilDiv(p+warm, m) * m }
	case ModeWarmIP:
		// datastoreTargetState: short = max(WARM_IP_TARGET - available, MINIMUM_IP_TARGET - total);
		// tryAssignIPs and GetENIResourcesToAllocate ask for exactly short; over frees down to it.
		if w == 0 {
			bounded = true
			target = func(int) int { return minIPs }
		} else {
			target = func(p int) int { return max(p+w, minIPs) }
		}
	case ModeWarmPrefix:
		// isDatastorePoolTooLow: low while available < 16 x WARM_PREFIX_TARGET (or available == 0
		// with a zero target); getPrefixesNeeded asks for max(1, WARM_PREFIX_TARGET - free
		// prefixes); isDatastorePoolTooHigh frees prefixes beyond WARM_PREFIX_TARGET free ones.
		warm := max(AddressesPerPrefix*s.WarmPrefixTarget, 1)
		target = func(p int) int { return ceilDiv(p+warm, AddressesPerPrefix) }
	case ModePrefixIP:
		// datastoreTargetState under prefix delegation: short prefixes = ceil(short IPs / 16);
		// over prefixes are free ones beyond ceil((assigned + WARM_IP_TARGET) / 16) and
		// ceil(MINIMUM_IP_TARGET / 16) (MINIMUM rounds up to whole /28s).
		minPfx := ceilDiv(minIPs, AddressesPerPrefix)
		if w == 0 {
			bounded = true
			target = func(int) int { return minPfx }
		} else {
			target = func(p int) int { return max(ceilDiv(p+w, AddressesPerPrefix), minPfx) }
		}
	}

	// grow is where growth stops because of max-pods: ipamd grows only while TotalIPs <
	// maxPods. Whole ENIs (ModeWarmENI) stop at the first ENI boundary at or past it; the other
	// modes grow one slot per pod once the empty node's chunk is in, so they stop exactly at it,
	// unless that first chunk already crossed it (then at the chunk's end, an ENI boundary or
	// the target).
	t0 := target(0)
	grow := ceilDiv(sh.mpSlots, sh.perENI) * sh.perENI
	if sh.mode != ModeWarmENI {
		if t0 < sh.mpSlots {
			grow = sh.mpSlots
		} else {
			grow = min(t0, grow)
		}
	}

	// Pods beyond what the pool can reach get no address; the target follows placed pods.
	limit := min(grow, sh.capSlots)
	if bounded {
		limit = min(limit, t0)
	}
	c.PodCapacity = limit * sh.size
	placed := min(pods, c.PodCapacity)
	slots := min(target(placed), limit)
	c.PodsPlaced = placed
	switch {
	case bounded && pods > placed && t0 <= min(grow, sh.capSlots):
		c.Binding = BindingMinimumIPTarget
	case slots < target(placed) || pods > placed:
		if sh.capSlots <= grow {
			c.Binding = BindingENILimit
		} else {
			c.Binding = BindingMaxPods
		}
	default:
		c.Binding = BindingTarget
	}

	// Zero warm targets: at an exact multiple, ipamd adds a slot (available == 0), then finds
	// an empty ENI (shouldRemoveExtraENIs, getDeletableENI after minENILifeTime) or a free
	// prefix beyond the zero target (isDatastorePoolTooHigh) and gives it back, and again.
	if c.Binding == BindingTarget {
		switch {
		case sh.mode == ModeWarmENI && s.WarmENITarget == 0 && placed > 0 && placed%sh.perENI == 0:
			c.Oscillates = true
		case sh.mode == ModeWarmPrefix && s.WarmPrefixTarget == 0 && placed%AddressesPerPrefix == 0:
			c.Oscillates = true
		}
	}

	c.Hold = sh.hold(s, slots, placed)
	c.Worst = c.Hold
	if sh.mode == ModeWarmPrefix && s.WarmPrefixTarget >= 2 {
		// Spread pods leave no prefix free when the pool turns low (available < 16 x target),
		// so one allocation adds the whole target: at most ceil(p/16) + 2 x target - 1.
		// The last allocation below max-pods may add the whole target too.
		worstLimit := min(max(grow, sh.mpSlots-1+s.WarmPrefixTarget), sh.capSlots)
		worst := min(ceilDiv(placed, AddressesPerPrefix)+2*s.WarmPrefixTarget-1, worstLimit)
		c.Worst = sh.hold(s, max(worst, slots), placed)
	}
	return c, nil
}

// hold turns a slot count into ENIs and subnet addresses. ENIs fill in turn (tryAssignIPs and
// tryAssignPrefixes top up an ENI with room before tryAllocateENI attaches another), each ENI
// holds its primary address, and the primary ENI always exists.
func (sh nodeShape) hold(s Settings, slots, placed int) Hold {
	h := Hold{Slots: slots, PodAddresses: slots * sh.size}
	h.Idle = h.PodAddresses - placed
	podENIs := ceilDiv(slots, sh.perENI)
	trunk := 0
	if sh.trunk {
		trunk = 1
	}
	if s.CustomNetworking {
		// The primary ENI stays in the node's subnet with its one address; tryAllocateENI
		// creates the pod ENIs in the ENIConfig's subnet. The trunk follows the ENIConfig too
		// (ipamd hands the resource controller the ENIConfig name in nodeInit).
		h.ENIs = podENIs + 1
		h.NodeSubnet = 1
		h.PodSubnet = podENIs + h.PodAddresses + trunk
		return h
	}
	h.ENIs = max(podENIs, 1)
	h.NodeSubnet = h.ENIs + h.PodAddresses + trunk
	return h
}

func ceilDiv(a, b int) int {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
