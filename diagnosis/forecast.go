package diagnosis

import (
	"fmt"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Forecast is what the node tells about the next scale-up (docs/forecast.md): what one more
// node like it would hold in each subnet under its own warm settings and under the
// alternatives, and, when its pod subnet is low, how many more such nodes that subnet takes.
type Forecast struct {
	// Pods is the pods with a VPC address the claims are computed at (the node's now).
	Pods   int             `json:"pods"`
	Claims []ScenarioClaim `json:"claims"`
	// Subnet is the what-if of the node's pod subnet; set only while that subnet is low.
	Subnet *SubnetOutlook `json:"subnet,omitempty"`
}

// ScenarioClaim is what one more node like this one holds under one scenario.
type ScenarioClaim struct {
	Scenario forecast.ScenarioName `json:"scenario"`
	Settings string                `json:"settings"`
	// Subnets are the addresses held per subnet (the node's, and under custom networking the
	// ENIConfig's), the claim's worst case; empty, not null, when the node's subnet is unknown.
	Subnets []SubnetClaim `json:"subnets"`
}

// SubnetClaim is addresses held in one subnet.
type SubnetClaim struct {
	SubnetID  string `json:"subnet_id"`
	Addresses int    `json:"addresses"`
}

// SubnetOutlook is the what-if of a low subnet for nodes like this one.
type SubnetOutlook struct {
	SubnetID string `json:"subnet_id"`
	// Why says what makes the subnet low.
	Why   string         `json:"why"`
	Space forecast.Space `json:"space"`
	// PerHour is how fast the subnet fills (the cluster view's recent polls, TrendPolls of them
	// over TrendSpanSeconds), and RunsOutInSeconds when it runs out at that rate (0 when it
	// does not fill).
	PerHour          float64                `json:"addresses_per_hour,omitempty"`
	TrendPolls       int                    `json:"trend_polls,omitempty"`
	TrendSpanSeconds float64                `json:"trend_span_seconds,omitempty"`
	RunsOutInSeconds float64                `json:"runs_out_in_seconds,omitempty"`
	Headroom         forecast.GroupHeadroom `json:"headroom"`
	// Sentence is the what-if for a person.
	Sentence string `json:"sentence"`
}

// Defaults of the low-subnet test (Options.SubnetLowRatio, SubnetLowNodes, SubnetRunsOutWithin).
const (
	DefaultSubnetLowRatio      = 0.2
	DefaultSubnetLowNodes      = 10
	DefaultSubnetRunsOutWithin = 4 * time.Hour
)

// forecastInputs turns what the diagnosis knows into the claim model's inputs. ok is false
// when something it needs is unknown, or for IPv6 (one /80 per ENI: nothing to forecast).
func (d *diag) forecastInputs() (forecast.Settings, forecast.Limits, int, bool) {
	c := d.cap
	if (c.Mode != ModeSecondary && c.Mode != ModePrefix) || c.MaxENIs < 1 || c.SlotsPerENI < 1 || c.KubeletMaxPods < 1 {
		return forecast.Settings{}, forecast.Limits{}, 0, false
	}
	pods := c.AssignedIPs
	if pods < 0 && c.Pods >= 0 && c.HostNetworkPods >= 0 {
		pods = c.Pods - c.HostNetworkPods
	}
	if pods < 0 {
		return forecast.Settings{}, forecast.Limits{}, 0, false
	}
	// awscni_eni_max already applies MAX_ENI (ipamd getMaxENI), and keeps the trunk's slot.
	s := forecast.RawSettings{
		PrefixDelegation: c.Mode == ModePrefix,
		CustomNetworking: d.cfg.CustomNetworking.IsTrue(),
		PodENI:           c.TrunkSlotReserved,
		WarmENITarget:    d.cfg.WarmENITarget,
		WarmIPTarget:     d.cfg.WarmIPTarget,
		MinimumIPTarget:  d.cfg.MinimumIPTarget,
		WarmPrefixTarget: d.cfg.WarmPrefixTarget,
	}.Resolve()
	l := forecast.Limits{InstanceType: d.node.InstanceType, ENIs: c.MaxENIs, IPv4PerENI: c.SlotsPerENI + 1, MaxPods: c.KubeletMaxPods}
	return s, l, pods, true
}

// podSubnet is the subnet the node's pod addresses come from: its own, or under custom
// networking that of its non-primary ENIs ("" when none is attached yet).
func (d *diag) podSubnet(custom bool) string {
	if !custom {
		return d.node.PrimarySubnet
	}
	if d.st.IPAMD.HasDatastore() {
		for _, e := range d.st.IPAMD.ENIs {
			if !e.IsPrimary && !e.IsTrunk && e.SubnetID != "" {
				return e.SubnetID
			}
		}
	}
	return ""
}

// forecast computes the node's claims and, when its pod subnet is low, the subnet's what-if.
func (d *diag) forecast() *Forecast {
	s, l, pods, ok := d.forecastInputs()
	if !ok {
		return nil
	}
	podSub := d.podSubnet(s.CustomNetworking)
	f := &Forecast{Pods: pods}
	for _, sc := range forecast.Scenarios(s, pods) {
		c, err := forecast.NodeClaim(sc.Settings, l, pods)
		if err != nil {
			return nil // inputs the model refuses: no forecast rather than a wrong one
		}
		claim := ScenarioClaim{Scenario: sc.Name, Settings: sc.Settings.String(), Subnets: []SubnetClaim{}}
		if d.node.PrimarySubnet != "" {
			claim.Subnets = append(claim.Subnets, SubnetClaim{d.node.PrimarySubnet, c.Worst.NodeSubnet})
		}
		if s.CustomNetworking && podSub != "" && podSub != d.node.PrimarySubnet {
			claim.Subnets = append(claim.Subnets, SubnetClaim{podSub, c.Worst.PodSubnet})
		}
		f.Claims = append(f.Claims, claim)
	}
	if podSub == "" {
		return f
	}
	space, why, low := d.subnetSpace(podSub)
	var trend *nodestate.SubnetTrend
	var runsOut time.Duration
	if v, ok := d.st.Subnets[podSub]; ok && v.Trend != nil {
		trend = v.Trend
		if trend.PerHour > 0 {
			runsOut = time.Duration(float64(v.FreeAddresses) / trend.PerHour * float64(time.Hour))
			if !low && runsOut < d.opts.SubnetRunsOutWithin {
				low, why = true, fmt.Sprintf("it runs out within %s at its current rate", d.opts.SubnetRunsOutWithin)
			}
		}
	}
	if !low {
		return f
	}
	g := forecast.Group{Limits: l, Settings: s, Nodes: 1, Pods: pods, NodeSubnet: !s.CustomNetworking, PodSubnet: s.CustomNetworking}
	h, err := forecast.SubnetHeadroom(space, []forecast.Group{g})
	if err != nil || len(h.Groups) == 0 {
		return f
	}
	f.Subnet = &SubnetOutlook{SubnetID: podSub, Why: why, Space: space, Headroom: h.Groups[0], Sentence: h.Groups[0].Sentence(), RunsOutInSeconds: runsOut.Seconds()}
	if trend != nil {
		f.Subnet.PerHour, f.Subnet.TrendPolls, f.Subnet.TrendSpanSeconds = trend.PerHour, trend.Polls, trend.Span.Seconds()
	}
	return f
}

// subnetSpace is the pod subnet's free space and whether it is low: exact from the cluster
// view (`ipamwatch subnets`), low under SubnetLowRatio of the subnet or SubnetLowNodes more
// nodes like this one; without the view, low only when EC2 refused addresses there (the node
// alone cannot see the rest of the subnet).
func (d *diag) subnetSpace(subnet string) (forecast.Space, string, bool) {
	if v, ok := d.st.Subnets[subnet]; ok && v.Size > 0 {
		sp := forecast.Space{SubnetID: subnet, Basis: forecast.BasisExact, Free: v.FreeAddresses, FreeBlocks: v.FreePrefixBlocks}
		usable := v.Size - forecast.AWSReservedAddresses
		if float64(v.FreeAddresses) < d.opts.SubnetLowRatio*float64(usable) {
			return sp, fmt.Sprintf("%d of its %d usable addresses are free (below %.0f%%)", v.FreeAddresses, usable, 100*d.opts.SubnetLowRatio), true
		}
		if s, l, pods, ok := d.forecastInputs(); ok {
			g := forecast.Group{Limits: l, Settings: s, Nodes: 1, Pods: pods, NodeSubnet: !s.CustomNetworking, PodSubnet: s.CustomNetworking}
			if h, err := forecast.SubnetHeadroom(sp, []forecast.Group{g}); err == nil && len(h.Groups) == 1 {
				if n := h.Groups[0].Current.Nodes; n >= 0 && n < d.opts.SubnetLowNodes {
					return sp, fmt.Sprintf("it takes only %d more nodes like this one", n), true
				}
			}
		}
		return sp, "", false
	}
	for _, c := range []Cause{CauseSubnetExhausted, CausePrefixFragmented} {
		if _, ok := d.found[c]; ok {
			return forecast.Space{SubnetID: subnet, Basis: forecast.BasisRefused, Free: 0, FreeBlocks: 0},
				fmt.Sprintf("EC2 refused addresses there (%s)", c), true
		}
	}
	return forecast.Space{}, "", false
}
