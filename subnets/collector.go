package subnets

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metricSpec is one exported metric; docs/subnets.md documents each (a test checks).
type metricSpec struct {
	name, help string
	typ        prometheus.ValueType
	labels     []string
}

var (
	subnetLabels = []string{"subnet_id", "availability_zone"}
	specs        = struct {
		size, reserved, used, free, freePrefixOnly, freeBlocks, assignedBlocks, largest, frag, ec2Avail, analyzed,
		errors, lastSuccess, duration, leader metricSpec
		leaked, leakedAddrs metricSpec
	}{
		size:           metricSpec{"ipamwatch_subnet_size_addresses", "Addresses in the subnet's IPv4 CIDR.", prometheus.GaugeValue, subnetLabels},
		reserved:       metricSpec{"ipamwatch_subnet_reserved_addresses", "Reserved addresses by kind: aws (first four and last), explicit and prefix (subnet CIDR reservations; addresses in both count as explicit).", prometheus.GaugeValue, append(subnetLabels[:2:2], "kind")},
		used:           metricSpec{"ipamwatch_subnet_used_addresses", "Addresses held by ENIs (primary and secondary private IPs, 16 per delegated /28 prefix), by holder.", prometheus.GaugeValue, append(subnetLabels[:2:2], "holder")},
		free:           metricSpec{"ipamwatch_subnet_free_addresses", "Addresses EC2 may still assign automatically: not AWS-reserved, not used, not explicitly reserved (prefix-reservation space included).", prometheus.GaugeValue, subnetLabels},
		freePrefixOnly: metricSpec{"ipamwatch_subnet_free_prefix_only_addresses", "Free addresses inside prefix reservations: assignable as /28 prefixes only, never as single IPs.", prometheus.GaugeValue, subnetLabels},
		freeBlocks:     metricSpec{"ipamwatch_subnet_free_prefix_blocks", "Aligned /28 blocks in which every address is free: how many more prefixes EC2 can delegate.", prometheus.GaugeValue, subnetLabels},
		assignedBlocks: metricSpec{"ipamwatch_subnet_assigned_prefix_blocks", "/28 blocks delegated to ENIs as prefixes.", prometheus.GaugeValue, subnetLabels},
		largest:        metricSpec{"ipamwatch_subnet_largest_free_block_addresses", "Size of the largest aligned free block (a power of two; 0 = nothing free).", prometheus.GaugeValue, subnetLabels},
		frag:           metricSpec{"ipamwatch_subnet_fragmentation_ratio", "Share (0-1) of free addresses that cannot form a free aligned /28.", prometheus.GaugeValue, subnetLabels},
		ec2Avail:       metricSpec{"ipamwatch_subnet_ec2_available_addresses", "EC2's AvailableIpAddressCount for the subnet, for comparison.", prometheus.GaugeValue, subnetLabels},
		analyzed:       metricSpec{"ipamwatch_subnet_analyzed", "1 if the subnet's IPv4 space was analysed, 0 if it was skipped (IPv6-only subnet).", prometheus.GaugeValue, subnetLabels},
		errors:         metricSpec{"ipamwatch_subnet_scrape_errors_total", "Failed polls of EC2 (after the SDK's retries).", prometheus.CounterValue, nil},
		lastSuccess:    metricSpec{"ipamwatch_subnet_last_success_timestamp_seconds", "Unix time of the last successful poll (0 = never). The subnet series come from that poll: EC2 is polled slowly, not per scrape.", prometheus.GaugeValue, nil},
		duration:       metricSpec{"ipamwatch_subnet_poll_duration_seconds", "Duration of the last successful poll.", prometheus.GaugeValue, nil},
		leaked:         metricSpec{"ipamwatch_subnet_leaked_enis", "Detached ENIs the VPC CNI created and left behind (status available, tagged node.k8s.amazonaws.com/instance_id, older than 5 minutes): they hold addresses and count against the ENI quota.", prometheus.GaugeValue, subnetLabels},
		leakedAddrs:    metricSpec{"ipamwatch_subnet_leaked_eni_addresses", "Addresses (private IPs, 16 per prefix) held by those leaked ENIs.", prometheus.GaugeValue, subnetLabels},
		leader:         metricSpec{"ipamwatch_subnet_leader", "1 if this replica holds the leader Lease and polls EC2; only the leader exports subnet series.", prometheus.GaugeValue, nil},
	}
)

func allSpecs() []metricSpec {
	s := specs
	return []metricSpec{s.size, s.reserved, s.used, s.free, s.freePrefixOnly, s.freeBlocks, s.assignedBlocks,
		s.largest, s.frag, s.ec2Avail, s.analyzed, s.errors, s.lastSuccess, s.duration, s.leader, s.leaked, s.leakedAddrs}
}

func (m metricSpec) desc() *prometheus.Desc {
	return prometheus.NewDesc(m.name, m.help, m.labels, nil)
}

// Collector exports the poller's last snapshot. It never calls EC2: scrapes are cheap and
// any number of Prometheus replicas add no EC2 load.
type Collector struct {
	p     *Poller
	descs map[string]*prometheus.Desc
}

// NewCollector returns a collector over p.
func NewCollector(p *Poller) *Collector {
	c := &Collector{p: p, descs: map[string]*prometheus.Desc{}}
	for _, s := range allSpecs() {
		c.descs[s.name] = s.desc()
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.state()
	emit := func(s metricSpec, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[s.name], s.typ, v, labels...)
	}
	leader := 0.0
	if st.leader {
		leader = 1
	}
	emit(specs.leader, leader)
	emit(specs.errors, float64(st.errors))
	last := 0.0
	if !st.lastSuccess.IsZero() {
		last = float64(st.lastSuccess.UnixNano()) / 1e9
	}
	emit(specs.lastSuccess, last)
	if st.last == nil {
		return
	}
	emit(specs.duration, st.last.Duration.Seconds())
	for _, r := range st.last.Results {
		id, az := r.Subnet.ID, r.Subnet.AvailabilityZone
		emit(specs.ec2Avail, float64(r.Subnet.AvailableIPs), id, az)
		a := r.Analysis
		if a == nil {
			emit(specs.analyzed, 0, id, az)
			continue
		}
		emit(specs.analyzed, 1, id, az)
		emit(specs.size, float64(a.Size), id, az)
		emit(specs.reserved, float64(a.AWSReserved), id, az, "aws")
		emit(specs.reserved, float64(a.ExplicitReserved), id, az, ReservationExplicit)
		emit(specs.reserved, float64(a.PrefixReserved), id, az, ReservationPrefix)
		for _, h := range holderOrder {
			emit(specs.used, float64(a.UsedBy[h]), id, az, h)
		}
		emit(specs.free, float64(a.Free), id, az)
		emit(specs.freePrefixOnly, float64(a.FreePrefixOnly), id, az)
		emit(specs.freeBlocks, float64(a.FreePrefixBlocks), id, az)
		emit(specs.assignedBlocks, float64(a.AssignedPrefixes), id, az)
		emit(specs.largest, float64(a.LargestFreeBlock), id, az)
		emit(specs.frag, a.FragmentationRatio, id, az)
		emit(specs.leaked, float64(a.LeakedENICount), id, az)
		emit(specs.leakedAddrs, float64(a.LeakedAddresses), id, az)
	}
}
