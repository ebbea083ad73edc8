package subnets

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipamwatch/ipamwatch/internal/promdesc"
)

// metrics are the exporter's metrics, each declared once with its type, help and labels;
// docs/subnets.md documents each (a test walks list).
type metrics struct {
	list promdesc.List
	size, reserved, used, free, freePrefixOnly, freeBlocks, assignedBlocks, largest, frag, ec2Avail, analyzed,
	errors, lastSuccess, duration, leader, leaked, leakedAddrs *promdesc.Desc
}

func newMetrics() *metrics {
	m := &metrics{}
	// Every per-subnet series has these labels first.
	subnet := func(more ...string) []string { return append([]string{"subnet_id", "availability_zone"}, more...) }
	m.size = m.list.Gauge("ipamwatch_subnet_size_addresses",
		"Addresses in the subnet's IPv4 CIDR.", subnet()...)
	m.reserved = m.list.Gauge("ipamwatch_subnet_reserved_addresses",
		"Reserved addresses by kind: aws (first four and last), explicit and prefix (subnet CIDR reservations; addresses in both count as explicit).", subnet("kind")...)
	m.used = m.list.Gauge("ipamwatch_subnet_used_addresses",
		"Addresses held by ENIs (primary and secondary private IPs, 16 per delegated /28 prefix), by holder.", subnet("holder")...)
	m.free = m.list.Gauge("ipamwatch_subnet_free_addresses",
		"Addresses EC2 may still assign automatically: not AWS-reserved, not used, not explicitly reserved (prefix-reservation space included).", subnet()...)
	m.freePrefixOnly = m.list.Gauge("ipamwatch_subnet_free_prefix_only_addresses",
		"Free addresses inside prefix reservations: assignable as /28 prefixes only, never as single IPs.", subnet()...)
	m.freeBlocks = m.list.Gauge("ipamwatch_subnet_free_prefix_blocks",
		"Aligned /28 blocks in which every address is free: how many more prefixes EC2 can delegate.", subnet()...)
	m.assignedBlocks = m.list.Gauge("ipamwatch_subnet_assigned_prefix_blocks",
		"/28 blocks delegated to ENIs as prefixes.", subnet()...)
	m.largest = m.list.Gauge("ipamwatch_subnet_largest_free_block_addresses",
		"Size of the largest aligned free block (a power of two; 0 = nothing free).", subnet()...)
	m.frag = m.list.Gauge("ipamwatch_subnet_fragmentation_ratio",
		"Share (0-1) of free addresses that cannot form a free aligned /28.", subnet()...)
	m.ec2Avail = m.list.Gauge("ipamwatch_subnet_ec2_available_addresses",
		"EC2's AvailableIpAddressCount for the subnet, for comparison.", subnet()...)
	m.analyzed = m.list.Gauge("ipamwatch_subnet_analyzed",
		"1 if the subnet's IPv4 space was analysed, 0 if it was skipped (IPv6-only subnet).", subnet()...)
	m.errors = m.list.Counter("ipamwatch_subnet_scrape_errors_total",
		"Failed polls of EC2 (after the SDK's retries).")
	m.lastSuccess = m.list.Gauge("ipamwatch_subnet_last_success_timestamp_seconds",
		"Unix time of the last successful poll (0 = never). The subnet series come from that poll: EC2 is polled slowly, not per scrape.")
	m.duration = m.list.Gauge("ipamwatch_subnet_poll_duration_seconds",
		"Duration of the last successful poll.")
	m.leader = m.list.Gauge("ipamwatch_subnet_leader",
		"1 if this replica holds the leader Lease and polls EC2; only the leader exports subnet series.")
	m.leaked = m.list.Gauge("ipamwatch_subnet_leaked_enis",
		"Detached ENIs the VPC CNI created and left behind (status available, tagged node.k8s.amazonaws.com/instance_id, older than 5 minutes): they hold addresses and count against the ENI quota.", subnet()...)
	m.leakedAddrs = m.list.Gauge("ipamwatch_subnet_leaked_eni_addresses",
		"Addresses (private IPs, 16 per prefix) held by those leaked ENIs.", subnet()...)
	return m
}

// Collector exports the poller's last snapshot. It never calls EC2: scrapes are cheap and
// any number of Prometheus replicas add no EC2 load.
type Collector struct {
	p *Poller
	m *metrics
}

// NewCollector returns a collector over p.
func NewCollector(p *Poller) *Collector {
	return &Collector{p: p, m: newMetrics()}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { c.m.list.Describe(ch) }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, m := c.p.state(), c.m
	emit := func(d *promdesc.Desc, v float64, labels ...string) { ch <- d.Metric(v, labels...) }
	leader := 0.0
	if st.leader {
		leader = 1
	}
	emit(m.leader, leader)
	emit(m.errors, float64(st.errors))
	last := 0.0
	if !st.lastSuccess.IsZero() {
		last = float64(st.lastSuccess.UnixNano()) / 1e9
	}
	emit(m.lastSuccess, last)
	if st.last == nil {
		return
	}
	emit(m.duration, st.last.Duration.Seconds())
	for _, r := range st.last.Results {
		id, az := r.Subnet.ID, r.Subnet.AvailabilityZone
		emit(m.ec2Avail, float64(r.Subnet.AvailableIPs), id, az)
		a := r.Analysis
		if a == nil {
			emit(m.analyzed, 0, id, az)
			continue
		}
		emit(m.analyzed, 1, id, az)
		emit(m.size, float64(a.Size), id, az)
		emit(m.reserved, float64(a.AWSReserved), id, az, "aws")
		emit(m.reserved, float64(a.ExplicitReserved), id, az, ReservationExplicit)
		emit(m.reserved, float64(a.PrefixReserved), id, az, ReservationPrefix)
		for _, h := range holderOrder {
			emit(m.used, float64(a.UsedBy[h]), id, az, h)
		}
		emit(m.free, float64(a.Free), id, az)
		emit(m.freePrefixOnly, float64(a.FreePrefixOnly), id, az)
		emit(m.freeBlocks, float64(a.FreePrefixBlocks), id, az)
		emit(m.assignedBlocks, float64(a.AssignedPrefixes), id, az)
		emit(m.largest, float64(a.LargestFreeBlock), id, az)
		emit(m.frag, a.FragmentationRatio, id, az)
		emit(m.leaked, float64(a.LeakedENICount), id, az)
		emit(m.leakedAddrs, float64(a.LeakedAddresses), id, az)
	}
}
