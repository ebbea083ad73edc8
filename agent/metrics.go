package agent

import (
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipamwatch/ipamwatch/collectors/cnimetrics"
	"github.com/ipamwatch/ipamwatch/collectors/ipamd"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/promdesc"
	"github.com/ipamwatch/ipamwatch/internal/termsafe"
	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// metrics are the agent's own metrics, each declared once with its type, help and labels.
// The collector sends through these fields; the docs drift test walks list.
type metrics struct {
	list                                                                                                                                 promdesc.List
	nodeInfo, configInfo, configWarm                                                                                                     *promdesc.Desc
	ipAddresses, prefixes, enisAttached, enisMax, capAttached, capMax, kubeletMaxPods, branchCap, branchReq, pods, podsPending, headroom *promdesc.Desc
	binding, finding                                                                                                                     *promdesc.Desc
	eniInfo, eniSlots, eniSlotsMax, eniAddresses, subnetCIDR, subnetHeld, forecastClaim                                                  *promdesc.Desc
	logEvents, logEventLast, cniAPIErrors, cniNoIP, cniDropped                                                                           *promdesc.Desc
	sourceUp, sourceDuration, sourceLastSuccess, sourceErrors                                                                            *promdesc.Desc
	logLines, logBytes, logRotations, logParseErrors, logReadable, logLastRead                                                           *promdesc.Desc
}

func newMetrics() *metrics {
	m := &metrics{}
	m.nodeInfo = m.list.Gauge("ipamwatch_node_info",
		"Always 1; node facts.",
		"node_name", "instance_id", "instance_type", "availability_zone", "availability_zone_id", "ec2_region", "subnet_id", "ip_mode", "cni_version")
	m.configInfo = m.list.Gauge("ipamwatch_config_info",
		"Always 1; the CNI's allocation settings as the agent understood them.",
		"prefix_delegation", "custom_networking", "pod_eni", "ipv6", "subnet_discovery", "eniconfig")
	m.configWarm = m.list.Gauge("ipamwatch_config_warm_target",
		"Numeric allocation settings of the CNI (absent when unset).",
		"setting")
	m.ipAddresses = m.list.Gauge("ipamwatch_ip_addresses",
		"Pod IPv4 addresses the node's ENIs hold, by state.",
		"state")
	m.prefixes = m.list.Gauge("ipamwatch_ipv4_prefixes",
		"IPv4 /28 prefixes attached to the node.")
	m.enisAttached = m.list.Gauge("ipamwatch_enis_attached",
		"ENIs attached and managed by ipamd.")
	m.enisMax = m.list.Gauge("ipamwatch_enis_max",
		"ENIs ipamd may use on this node.")
	m.capAttached = m.list.Gauge("ipamwatch_capacity_attached_pod_ips",
		"Pod IPs the node could hold with the ENIs it has now.")
	m.capMax = m.list.Gauge("ipamwatch_capacity_max_pod_ips",
		"Pod IPs the node could ever hold in its current mode.")
	m.kubeletMaxPods = m.list.Gauge("ipamwatch_kubelet_max_pods",
		"kubelet max-pods (node allocatable pods).")
	m.branchCap = m.list.Gauge("ipamwatch_branch_eni_capacity",
		"Branch ENIs the node advertises (vpc.amazonaws.com/pod-eni capacity).")
	m.branchReq = m.list.Gauge("ipamwatch_branch_eni_requested",
		"Sum of vpc.amazonaws.com/pod-eni requests of the node's pods.")
	m.pods = m.list.Gauge("ipamwatch_pods",
		"Pods on the node that are not finished.",
		"network")
	m.podsPending = m.list.Gauge("ipamwatch_pods_pending_ip",
		"Pods scheduled to the node that have no pod IP yet.")
	m.headroom = m.list.Gauge("ipamwatch_headroom_pods",
		"How many more pods can get an IP on this node now.")
	m.binding = m.list.Gauge("ipamwatch_binding_ceiling",
		"1 for the ceiling that binds first, 0 for the others.",
		"ceiling")
	m.finding = m.list.Gauge("ipamwatch_finding",
		"1 while the diagnosis reports the finding, else 0.",
		"cause", "severity")
	m.eniInfo = m.list.Gauge("ipamwatch_eni_info",
		"Always 1; one per ENI.",
		"eni", "subnet_id", "network_card", "device_number", "primary", "trunk", "efa")
	m.eniSlots = m.list.Gauge("ipamwatch_eni_slots",
		"Address slots in use on the ENI.",
		"eni", "subnet_id")
	m.eniSlotsMax = m.list.Gauge("ipamwatch_eni_slots_max",
		"Address slots the ENI can have.",
		"eni", "subnet_id")
	m.eniAddresses = m.list.Gauge("ipamwatch_eni_ip_addresses",
		"Pod addresses on the ENI by state.",
		"eni", "subnet_id", "state")
	m.subnetCIDR = m.list.Gauge("ipamwatch_subnet_cidr_addresses",
		"Size of the subnet's IPv4 CIDR.",
		"subnet_id")
	m.subnetHeld = m.list.Gauge("ipamwatch_subnet_node_held_addresses",
		"Addresses this node holds in the subnet.",
		"subnet_id")
	m.forecastClaim = m.list.Gauge("ipamwatch_forecast_claim_addresses",
		"Addresses one more node like this one (instance type, pods now) would hold in the subnet, under the node's warm settings (scenario current) or an alternative.",
		"subnet_id", "scenario")
	m.logEvents = m.list.Counter("ipamwatch_log_events_total",
		"Classified allocation-failure log lines.",
		"log", "class")
	m.logEventLast = m.list.Gauge("ipamwatch_log_event_last_timestamp_seconds",
		"Unix time of the last line of the class (0 = never).",
		"class")
	m.cniAPIErrors = m.list.Counter("ipamwatch_cni_aws_api_errors_total",
		"Increases of the CNI's awscni_aws_api_error_count between polls, by EC2 error code.",
		"code")
	m.cniNoIP = m.list.Counter("ipamwatch_cni_no_available_ip_total",
		"Increases of the CNI's awscni_no_available_ip_addresses.")
	m.cniDropped = m.list.Counter("ipamwatch_cni_samples_dropped_total",
		"Samples of the CNI's metrics page refused as impossible (NaN or Inf, a negative or astronomical counter, a gauge beyond any instance).",
		"reason")
	m.sourceUp = m.list.Gauge("ipamwatch_source_up",
		"1 if the last poll of the source succeeded.",
		"source")
	m.sourceDuration = m.list.Gauge("ipamwatch_source_poll_duration_seconds",
		"Duration of the last poll of the source.",
		"source")
	m.sourceLastSuccess = m.list.Gauge("ipamwatch_source_last_success_timestamp_seconds",
		"Unix time of the last successful poll (0 = never); the agent serves the last snapshot.",
		"source")
	m.sourceErrors = m.list.Counter("ipamwatch_source_errors_total",
		"Failed polls of the source.",
		"source")
	m.logLines = m.list.Counter("ipamwatch_log_lines_total",
		"Lines read from the log.",
		"log")
	m.logBytes = m.list.Counter("ipamwatch_log_bytes_total",
		"Bytes read from the log.",
		"log")
	m.logRotations = m.list.Counter("ipamwatch_log_rotations_total",
		"Renames, truncations and re-creations of the log file followed.",
		"log")
	m.logParseErrors = m.list.Counter("ipamwatch_log_parse_errors_total",
		"Lines that looked like JSON but did not decode.",
		"log")
	m.logReadable = m.list.Gauge("ipamwatch_log_file_readable",
		"1 if the log file exists and can be read.",
		"log")
	m.logLastRead = m.list.Gauge("ipamwatch_log_last_read_timestamp_seconds",
		"Unix time a line was last read from the log.",
		"log")
	return m
}

type collector struct {
	a *Agent
	m *metrics
}

func newCollector(a *Agent) *collector { return &collector{a: a, m: newMetrics()} }

func (c *collector) Describe(ch chan<- *prometheus.Desc) { c.m.list.Describe(ch) }

// emit sends one sample of d. Label values that came from upstream (ENI and subnet ids, the
// ENIConfig name, the CNI version) are shown with termsafe's escapes: `curl :9713/metrics` in
// a terminal must not run escape sequences.
func (c *collector) emit(ch chan<- prometheus.Metric, d *promdesc.Desc, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = termsafe.String(l)
	}
	ch <- d.Metric(v, labels...)
}

func ts(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func b2s(b bool) string { return strconv.FormatBool(b) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	a.mu.RLock()
	rep := a.report
	st := cloneState(a.state)
	health := make(map[string]sourceHealth, len(a.health))
	for k, v := range a.health {
		health[k] = *v
	}
	_, hasCNI := a.health[nodestate.SourceCNIMetrics]
	a.mu.RUnlock()
	apiErrs, noIP, dropped := a.cni.snapshot()

	c.collectNode(ch, &rep)
	c.collectCapacity(ch, &rep)
	c.collectENIs(ch, &st, &rep)
	c.collectSubnets(ch, &st)
	c.collectDiagnosis(ch, &rep)
	c.collectLogs(ch)
	if hasCNI {
		c.emit(ch, c.m.cniNoIP, noIP)
		for _, code := range sortedKeys(apiErrs) {
			c.emit(ch, c.m.cniAPIErrors, apiErrs[code], code)
		}
		for _, reason := range cnimetrics.DropReasons() {
			c.emit(ch, c.m.cniDropped, dropped[reason], reason)
		}
	}
	for _, name := range sortedKeys(health) {
		h := health[name]
		up := 0.0
		if h.up {
			up = 1
		}
		c.emit(ch, c.m.sourceUp, up, name)
		c.emit(ch, c.m.sourceDuration, h.duration.Seconds(), name)
		c.emit(ch, c.m.sourceLastSuccess, ts(h.lastSuccess), name)
		c.emit(ch, c.m.sourceErrors, float64(h.errors), name)
	}
}

func (c *collector) collectNode(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	n := rep.Node
	if n.Name == "" {
		n.Name = c.a.cfg.NodeName
	}
	c.emit(ch, c.m.nodeInfo, 1, n.Name, n.InstanceID, n.InstanceType, n.AvailabilityZone, n.AZID, n.Region, n.PrimarySubnet, string(n.IPMode), n.CNIVersion)

	cfg := rep.Config
	c.emit(ch, c.m.configInfo, 1, string(cfg.PrefixDelegation), string(cfg.CustomNetworking), string(cfg.PodENI),
		string(cfg.IPv6), string(cfg.SubnetDiscovery), cfg.ENIConfig)
	for _, w := range []struct {
		name string
		v    *int
	}{
		{"warm_ip_target", cfg.WarmIPTarget}, {"minimum_ip_target", cfg.MinimumIPTarget},
		{"warm_eni_target", cfg.WarmENITarget}, {"warm_prefix_target", cfg.WarmPrefixTarget},
		{"max_eni", cfg.MaxENI},
	} {
		if w.v != nil {
			c.emit(ch, c.m.configWarm, float64(*w.v), w.name)
		}
	}
}

// known emits v when it is not the diagnosis' "unknown" (-1).
func (c *collector) known(ch chan<- prometheus.Metric, d *promdesc.Desc, v int, labels ...string) {
	if v >= 0 {
		c.emit(ch, d, float64(v), labels...)
	}
}

func (c *collector) collectCapacity(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	cp := rep.Capacity
	c.known(ch, c.m.ipAddresses, cp.AssignedIPs, "assigned")
	c.known(ch, c.m.ipAddresses, cp.FreeIPs, "free")
	c.known(ch, c.m.ipAddresses, cp.CooldownIPs, "cooldown")
	c.known(ch, c.m.prefixes, cp.Prefixes)
	c.known(ch, c.m.enisAttached, cp.ENIs)
	c.known(ch, c.m.enisMax, cp.MaxENIs)
	c.known(ch, c.m.capAttached, cp.AttachedCapacity)
	c.known(ch, c.m.capMax, cp.MaxCapacity)
	c.known(ch, c.m.kubeletMaxPods, cp.KubeletMaxPods)
	c.known(ch, c.m.branchCap, cp.BranchENICapacity)
	c.known(ch, c.m.branchReq, cp.BranchENIRequested)
	if cp.Pods >= 0 && cp.HostNetworkPods >= 0 {
		c.emit(ch, c.m.pods, float64(cp.Pods-cp.HostNetworkPods), "pod")
		c.emit(ch, c.m.pods, float64(cp.HostNetworkPods), "host")
	}
	c.known(ch, c.m.podsPending, cp.PendingPods)
	c.known(ch, c.m.headroom, rep.Headroom)
}

func (c *collector) collectENIs(ch chan<- prometheus.Metric, st *nodestate.State, rep *diagnosis.Report) {
	if st.IPAMD == nil {
		return
	}
	subnetOf := eniSubnets(st)
	// The decoder refuses answers with more ENIs than any instance type has; the series stay
	// bounded by the same number whatever fills the state.
	enis := st.IPAMD.ENIs[:min(len(st.IPAMD.ENIs), ipamd.MaxENIs)]
	for _, e := range enis {
		subnet := e.SubnetID
		if subnet == "" {
			subnet = subnetOf[e.ID]
		}
		c.emit(ch, c.m.eniInfo, 1, e.ID, subnet, strconv.Itoa(e.NetworkCard), strconv.Itoa(e.DeviceNumber),
			b2s(e.IsPrimary), b2s(e.IsTrunk), b2s(e.IsEFA))
		c.emit(ch, c.m.eniSlots, float64(e.Slots), e.ID, subnet)
		if rep.Capacity.SlotsPerENI > 0 {
			c.emit(ch, c.m.eniSlotsMax, float64(rep.Capacity.SlotsPerENI), e.ID, subnet)
		}
		c.emit(ch, c.m.eniAddresses, float64(e.Assigned), e.ID, subnet, "assigned")
		c.emit(ch, c.m.eniAddresses, float64(e.Free), e.ID, subnet, "free")
		c.emit(ch, c.m.eniAddresses, float64(e.Cooldown), e.ID, subnet, "cooldown")
	}
}

// eniSubnets maps ENI id to subnet id from instance metadata (ipamd reports it only since v1.22).
func eniSubnets(st *nodestate.State) map[string]string {
	m := map[string]string{}
	if st.Metadata != nil {
		for _, itf := range st.Metadata.Interfaces {
			if itf.InterfaceID != "" {
				m[itf.InterfaceID] = itf.SubnetID
			}
		}
	}
	return m
}

// collectSubnets reports each subnet the node has an ENI in: its size, and what the node holds
// there. Instance metadata is the truth for held addresses (it includes primary IPs); ipamd's
// view is the fallback.
func (c *collector) collectSubnets(ch chan<- prometheus.Metric, st *nodestate.State) {
	size := map[string]int{}
	held := map[string]int{}
	if md := st.Metadata; md != nil {
		for _, itf := range md.Interfaces {
			if itf.SubnetID == "" {
				continue
			}
			if p, err := netip.ParsePrefix(itf.SubnetCIDR); err == nil && p.Addr().Is4() {
				size[itf.SubnetID] = 1 << (32 - p.Bits())
			}
			held[itf.SubnetID] += len(itf.LocalIPv4s) + 16*len(itf.IPv4Prefixes)
		}
	}
	if len(held) == 0 && st.IPAMD != nil {
		for _, e := range st.IPAMD.ENIs {
			if e.SubnetID != "" {
				held[e.SubnetID] += e.Addresses + 1
			}
		}
	}
	for _, s := range sortedKeys(size) {
		c.emit(ch, c.m.subnetCIDR, float64(size[s]), s)
	}
	for _, s := range sortedKeys(held) {
		c.emit(ch, c.m.subnetHeld, float64(held[s]), s)
	}
}

func (c *collector) collectDiagnosis(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	binding := rep.BindingCeiling
	for _, ceil := range diagnosis.Ceilings() {
		v := 0.0
		if ceil == binding {
			v = 1
		}
		c.emit(ch, c.m.binding, v, string(ceil))
	}
	active := map[diagnosis.Cause]bool{}
	for _, f := range rep.Findings {
		active[f.Cause] = true
	}
	for _, cause := range diagnosis.Causes() {
		v := 0.0
		if active[cause] {
			v = 1
		}
		c.emit(ch, c.m.finding, v, string(cause), string(cause.Severity()))
	}
	if f := rep.Forecast; f != nil {
		for _, cl := range f.Claims {
			for _, sc := range cl.Subnets {
				c.emit(ch, c.m.forecastClaim, float64(sc.Addresses), sc.SubnetID, string(cl.Scenario))
			}
		}
	}
}

func (c *collector) collectLogs(ch chan<- prometheus.Metric) {
	streams := c.a.streams
	if len(streams) == 0 {
		return
	}
	classes := logparse.Classes()
	last := make([]time.Time, classCount)
	for _, s := range streams {
		counts, parseErrs := s.snapshot()
		for _, cl := range classes {
			c.emit(ch, c.m.logEvents, float64(counts[cl]), s.name, cl.String())
		}
		for i, t := range s.lastSeen() {
			if t.After(last[i]) {
				last[i] = t
			}
		}
		st := s.tailer.Stats()
		c.emit(ch, c.m.logLines, float64(st.Lines), s.name)
		c.emit(ch, c.m.logBytes, float64(st.Bytes), s.name)
		c.emit(ch, c.m.logRotations, float64(st.Rotations+st.Truncations), s.name)
		c.emit(ch, c.m.logParseErrors, float64(parseErrs), s.name)
		readable := 0.0
		if st.Readable {
			readable = 1
		}
		c.emit(ch, c.m.logReadable, readable, s.name)
		c.emit(ch, c.m.logLastRead, ts(st.LastRead), s.name)
	}
	for _, cl := range classes {
		c.emit(ch, c.m.logEventLast, ts(last[cl]), cl.String())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
