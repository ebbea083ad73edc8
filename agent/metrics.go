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
	"github.com/ipamwatch/ipamwatch/internal/termsafe"
	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// metricDef is one exported metric. The list below is the single source of truth that the
// collector builds its descriptors from and that docs/metrics.md is checked against.
type metricDef struct {
	name   string
	kind   string // gauge | counter
	labels []string
	help   string
}

// Metric names, as constants so the collector and the table cannot disagree.
const (
	mNodeInfo          = "ipamwatch_node_info"
	mConfigInfo        = "ipamwatch_config_info"
	mConfigWarm        = "ipamwatch_config_warm_target"
	mIPAddresses       = "ipamwatch_ip_addresses"
	mPrefixes          = "ipamwatch_ipv4_prefixes"
	mENIsAttached      = "ipamwatch_enis_attached"
	mENIsMax           = "ipamwatch_enis_max"
	mCapAttached       = "ipamwatch_capacity_attached_pod_ips"
	mCapMax            = "ipamwatch_capacity_max_pod_ips"
	mKubeletMaxPods    = "ipamwatch_kubelet_max_pods"
	mBranchCap         = "ipamwatch_branch_eni_capacity"
	mBranchReq         = "ipamwatch_branch_eni_requested"
	mPods              = "ipamwatch_pods"
	mPodsPending       = "ipamwatch_pods_pending_ip"
	mHeadroom          = "ipamwatch_headroom_pods"
	mBinding           = "ipamwatch_binding_ceiling"
	mFinding           = "ipamwatch_finding"
	mENIInfo           = "ipamwatch_eni_info"
	mENISlots          = "ipamwatch_eni_slots"
	mENISlotsMax       = "ipamwatch_eni_slots_max"
	mENIAddresses      = "ipamwatch_eni_ip_addresses"
	mSubnetCIDR        = "ipamwatch_subnet_cidr_addresses"
	mSubnetHeld        = "ipamwatch_subnet_node_held_addresses"
	mForecastClaim     = "ipamwatch_forecast_claim_addresses"
	mLogEvents         = "ipamwatch_log_events_total"
	mLogEventLast      = "ipamwatch_log_event_last_timestamp_seconds"
	mCNIAPIErrors      = "ipamwatch_cni_aws_api_errors_total"
	mCNINoIP           = "ipamwatch_cni_no_available_ip_total"
	mCNIDropped        = "ipamwatch_cni_samples_dropped_total"
	mSourceUp          = "ipamwatch_source_up"
	mSourceDuration    = "ipamwatch_source_poll_duration_seconds"
	mSourceLastSuccess = "ipamwatch_source_last_success_timestamp_seconds"
	mSourceErrors      = "ipamwatch_source_errors_total"
	mLogLines          = "ipamwatch_log_lines_total"
	mLogBytes          = "ipamwatch_log_bytes_total"
	mLogRotations      = "ipamwatch_log_rotations_total"
	mLogParseErrors    = "ipamwatch_log_parse_errors_total"
	mLogReadable       = "ipamwatch_log_file_readable"
	mLogLastRead       = "ipamwatch_log_last_read_timestamp_seconds"
)

func metricDefs() []metricDef {
	return []metricDef{
		{mNodeInfo, "gauge", []string{"node_name", "instance_id", "instance_type", "availability_zone", "availability_zone_id", "ec2_region", "subnet_id", "ip_mode", "cni_version"}, "Always 1; node facts."},
		{mConfigInfo, "gauge", []string{"prefix_delegation", "custom_networking", "pod_eni", "ipv6", "subnet_discovery", "eniconfig"}, "Always 1; the CNI's allocation settings as the agent understood them."},
		{mConfigWarm, "gauge", []string{"setting"}, "Numeric allocation settings of the CNI (absent when unset)."},
		{mIPAddresses, "gauge", []string{"state"}, "Pod IPv4 addresses the node's ENIs hold, by state."},
		{mPrefixes, "gauge", nil, "IPv4 /28 prefixes attached to the node."},
		{mENIsAttached, "gauge", nil, "ENIs attached and managed by ipamd."},
		{mENIsMax, "gauge", nil, "ENIs ipamd may use on this node."},
		{mCapAttached, "gauge", nil, "Pod IPs the node could hold with the ENIs it has now."},
		{mCapMax, "gauge", nil, "Pod IPs the node could ever hold in its current mode."},
		{mKubeletMaxPods, "gauge", nil, "kubelet max-pods (node allocatable pods)."},
		{mBranchCap, "gauge", nil, "Branch ENIs the node advertises (vpc.amazonaws.com/pod-eni capacity)."},
		{mBranchReq, "gauge", nil, "Sum of vpc.amazonaws.com/pod-eni requests of the node's pods."},
		{mPods, "gauge", []string{"network"}, "Pods on the node that are not finished."},
		{mPodsPending, "gauge", nil, "Pods scheduled to the node that have no pod IP yet."},
		{mHeadroom, "gauge", nil, "How many more pods can get an IP on this node now."},
		{mBinding, "gauge", []string{"ceiling"}, "1 for the ceiling that binds first, 0 for the others."},
		{mFinding, "gauge", []string{"cause", "severity"}, "1 while the diagnosis reports the finding, else 0."},
		{mENIInfo, "gauge", []string{"eni", "subnet_id", "network_card", "device_number", "primary", "trunk", "efa"}, "Always 1; one per ENI."},
		{mENISlots, "gauge", []string{"eni", "subnet_id"}, "Address slots in use on the ENI."},
		{mENISlotsMax, "gauge", []string{"eni", "subnet_id"}, "Address slots the ENI can have."},
		{mENIAddresses, "gauge", []string{"eni", "subnet_id", "state"}, "Pod addresses on the ENI by state."},
		{mSubnetCIDR, "gauge", []string{"subnet_id"}, "Size of the subnet's IPv4 CIDR."},
		{mSubnetHeld, "gauge", []string{"subnet_id"}, "Addresses this node holds in the subnet."},
		{mForecastClaim, "gauge", []string{"subnet_id", "scenario"}, "Addresses one more node like this one (instance type, pods now) would hold in the subnet, under the node's warm settings (scenario current) or an alternative."},
		{mLogEvents, "counter", []string{"log", "class"}, "Classified allocation-failure log lines."},
		{mLogEventLast, "gauge", []string{"class"}, "Unix time of the last line of the class (0 = never)."},
		{mCNIAPIErrors, "counter", []string{"code"}, "Increases of the CNI's awscni_aws_api_error_count between polls, by EC2 error code."},
		{mCNINoIP, "counter", nil, "Increases of the CNI's awscni_no_available_ip_addresses."},
		{mCNIDropped, "counter", []string{"reason"}, "Samples of the CNI's metrics page refused as impossible (NaN or Inf, a negative or astronomical counter, a gauge beyond any instance)."},
		{mSourceUp, "gauge", []string{"source"}, "1 if the last poll of the source succeeded."},
		{mSourceDuration, "gauge", []string{"source"}, "Duration of the last poll of the source."},
		{mSourceLastSuccess, "gauge", []string{"source"}, "Unix time of the last successful poll (0 = never); the agent serves the last snapshot."},
		{mSourceErrors, "counter", []string{"source"}, "Failed polls of the source."},
		{mLogLines, "counter", []string{"log"}, "Lines read from the log."},
		{mLogBytes, "counter", []string{"log"}, "Bytes read from the log."},
		{mLogRotations, "counter", []string{"log"}, "Renames, truncations and re-creations of the log file followed."},
		{mLogParseErrors, "counter", []string{"log"}, "Lines that looked like JSON but did not decode."},
		{mLogReadable, "gauge", []string{"log"}, "1 if the log file exists and can be read."},
		{mLogLastRead, "gauge", []string{"log"}, "Unix time a line was last read from the log."},
	}
}

// boundCode keeps the `code` label bounded: codes the diagnosis knows, else "other".
func boundCode(code string) string {
	if diagnosis.KnownCode(code) {
		return code
	}
	return "other"
}

type collector struct {
	a     *Agent
	descs map[string]*prometheus.Desc
	kinds map[string]prometheus.ValueType
}

func newCollector(a *Agent) *collector {
	c := &collector{a: a, descs: map[string]*prometheus.Desc{}, kinds: map[string]prometheus.ValueType{}}
	for _, d := range metricDefs() {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
		if d.kind == "counter" {
			c.kinds[d.name] = prometheus.CounterValue
		} else {
			c.kinds[d.name] = prometheus.GaugeValue
		}
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// emit sends one sample; it panics only on a programming error (unknown name). Label values
// that came from upstream (ENI and subnet ids, the ENIConfig name, the CNI version) are shown
// with termsafe's escapes: `curl :9713/metrics` in a terminal must not run escape sequences.
func (c *collector) emit(ch chan<- prometheus.Metric, name string, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = termsafe.String(l)
	}
	ch <- prometheus.MustNewConstMetric(c.descs[name], c.kinds[name], v, labels...)
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
	apiErrs := make(map[string]float64, len(a.cniAPIErrors))
	for k, v := range a.cniAPIErrors {
		apiErrs[k] = v
	}
	noIP := a.cniNoIP
	dropped := make(map[string]float64, len(a.cniDropped))
	for k, v := range a.cniDropped {
		dropped[k] = v
	}
	_, hasCNI := a.health[nodestate.SourceCNIMetrics]
	a.mu.RUnlock()

	c.collectNode(ch, &rep)
	c.collectCapacity(ch, &rep)
	c.collectENIs(ch, &st, &rep)
	c.collectSubnets(ch, &st)
	c.collectDiagnosis(ch, &rep)
	c.collectLogs(ch)
	if hasCNI {
		c.emit(ch, mCNINoIP, noIP)
		for _, code := range sortedKeys(apiErrs) {
			c.emit(ch, mCNIAPIErrors, apiErrs[code], code)
		}
		for _, reason := range cnimetrics.DropReasons() {
			c.emit(ch, mCNIDropped, dropped[reason], reason)
		}
	}
	for _, name := range sortedKeys(health) {
		h := health[name]
		up := 0.0
		if h.up {
			up = 1
		}
		c.emit(ch, mSourceUp, up, name)
		c.emit(ch, mSourceDuration, h.duration.Seconds(), name)
		c.emit(ch, mSourceLastSuccess, ts(h.lastSuccess), name)
		c.emit(ch, mSourceErrors, float64(h.errors), name)
	}
}

func (c *collector) collectNode(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	n := rep.Node
	if n.Name == "" {
		n.Name = c.a.cfg.NodeName
	}
	c.emit(ch, mNodeInfo, 1, n.Name, n.InstanceID, n.InstanceType, n.AvailabilityZone, n.AZID, n.Region, n.PrimarySubnet, string(n.IPMode), n.CNIVersion)

	cfg := rep.Config
	c.emit(ch, mConfigInfo, 1, string(cfg.PrefixDelegation), string(cfg.CustomNetworking), string(cfg.PodENI),
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
			c.emit(ch, mConfigWarm, float64(*w.v), w.name)
		}
	}
}

// known emits v when it is not the diagnosis' "unknown" (-1).
func (c *collector) known(ch chan<- prometheus.Metric, name string, v int, labels ...string) {
	if v >= 0 {
		c.emit(ch, name, float64(v), labels...)
	}
}

func (c *collector) collectCapacity(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	cp := rep.Capacity
	c.known(ch, mIPAddresses, cp.AssignedIPs, "assigned")
	c.known(ch, mIPAddresses, cp.FreeIPs, "free")
	c.known(ch, mIPAddresses, cp.CooldownIPs, "cooldown")
	c.known(ch, mPrefixes, cp.Prefixes)
	c.known(ch, mENIsAttached, cp.ENIs)
	c.known(ch, mENIsMax, cp.MaxENIs)
	c.known(ch, mCapAttached, cp.AttachedCapacity)
	c.known(ch, mCapMax, cp.MaxCapacity)
	c.known(ch, mKubeletMaxPods, cp.KubeletMaxPods)
	c.known(ch, mBranchCap, cp.BranchENICapacity)
	c.known(ch, mBranchReq, cp.BranchENIRequested)
	if cp.Pods >= 0 && cp.HostNetworkPods >= 0 {
		c.emit(ch, mPods, float64(cp.Pods-cp.HostNetworkPods), "pod")
		c.emit(ch, mPods, float64(cp.HostNetworkPods), "host")
	}
	c.known(ch, mPodsPending, cp.PendingPods)
	c.known(ch, mHeadroom, rep.Headroom)
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
		c.emit(ch, mENIInfo, 1, e.ID, subnet, strconv.Itoa(e.NetworkCard), strconv.Itoa(e.DeviceNumber),
			b2s(e.IsPrimary), b2s(e.IsTrunk), b2s(e.IsEFA))
		c.emit(ch, mENISlots, float64(e.Slots), e.ID, subnet)
		if rep.Capacity.SlotsPerENI > 0 {
			c.emit(ch, mENISlotsMax, float64(rep.Capacity.SlotsPerENI), e.ID, subnet)
		}
		c.emit(ch, mENIAddresses, float64(e.Assigned), e.ID, subnet, "assigned")
		c.emit(ch, mENIAddresses, float64(e.Free), e.ID, subnet, "free")
		c.emit(ch, mENIAddresses, float64(e.Cooldown), e.ID, subnet, "cooldown")
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
		c.emit(ch, mSubnetCIDR, float64(size[s]), s)
	}
	for _, s := range sortedKeys(held) {
		c.emit(ch, mSubnetHeld, float64(held[s]), s)
	}
}

func (c *collector) collectDiagnosis(ch chan<- prometheus.Metric, rep *diagnosis.Report) {
	binding := rep.BindingCeiling
	for _, ceil := range diagnosis.Ceilings() {
		v := 0.0
		if ceil == binding {
			v = 1
		}
		c.emit(ch, mBinding, v, string(ceil))
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
		c.emit(ch, mFinding, v, string(cause), string(cause.Severity()))
	}
	if f := rep.Forecast; f != nil {
		for _, cl := range f.Claims {
			for _, sc := range cl.Subnets {
				c.emit(ch, mForecastClaim, float64(sc.Addresses), sc.SubnetID, string(cl.Scenario))
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
			c.emit(ch, mLogEvents, float64(counts[cl]), s.name, cl.String())
		}
		for i, t := range s.lastSeen() {
			if t.After(last[i]) {
				last[i] = t
			}
		}
		st := s.tailer.Stats()
		c.emit(ch, mLogLines, float64(st.Lines), s.name)
		c.emit(ch, mLogBytes, float64(st.Bytes), s.name)
		c.emit(ch, mLogRotations, float64(st.Rotations+st.Truncations), s.name)
		c.emit(ch, mLogParseErrors, float64(parseErrs), s.name)
		readable := 0.0
		if st.Readable {
			readable = 1
		}
		c.emit(ch, mLogReadable, readable, s.name)
		c.emit(ch, mLogLastRead, ts(st.LastRead), s.name)
	}
	for _, cl := range classes {
		c.emit(ch, mLogEventLast, ts(last[cl]), cl.String())
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
