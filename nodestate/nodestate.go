// Package nodestate holds the plain, typed picture of one node that every source fills in
// (ipamd introspection, CNI metrics, instance metadata, Kubernetes, logs, a log-collector
// bundle) and that the diagnosis reads. It has no behaviour beyond small derived helpers and
// no I/O, so the live agent and the one-shot CLI share it.
package nodestate

import "time"

// State is everything known about one node at one moment. A nil pointer means that source
// was not available; the matching entry in Sources says why.
type State struct {
	// Time the snapshot was assembled.
	Time time.Time

	IPAMD    *IPAMD
	CNI      *CNIMetrics
	Metadata *Metadata
	Kube     *Kube
	// Kubelet holds what the node's kubelet configuration says (bundle or live file), if known.
	Kubelet *Kubelet
	Logs    *LogSummary
	// Subnets is the cluster-level subnet analysis (`ipamwatch subnets`) for the subnets this
	// node has ENIs in, keyed by subnet id; nil when not configured or unavailable.
	Subnets map[string]SubnetView

	// Sources reports per source whether it answered. Keys are SourceIPAMD, SourceCNIMetrics, ...
	Sources map[string]SourceStatus
}

// Source names, used as the `source` label and as keys of State.Sources.
const (
	SourceIPAMD      = "ipamd"
	SourceCNIMetrics = "cni_metrics"
	SourceIMDS       = "imds"
	SourceKube       = "kubernetes"
	SourceLogs       = "logs"
	SourceBundle     = "bundle"
	SourceSubnets    = "subnets"
)

// SourceStatus is the outcome of the last attempt to read one source.
type SourceStatus struct {
	Up  bool
	Err string // empty when Up
	// Partial says what an Up source did not answer (ipamd's optional routes that failed);
	// empty when it answered in full.
	Partial     string
	LastSuccess time.Time
	Duration    time.Duration
}

// IPAMD is what ipamd's introspection endpoint reported.
type IPAMD struct {
	// Shape names the JSON shape seen: "single" (v1.12-v1.19) or "multi_card" (v1.20+).
	Shape string
	// TotalIPs and AssignedIPs as ipamd reports them, summed over network cards.
	TotalIPs    int
	AssignedIPs int
	ENIs        []ENI
	// ENIConfig is the node's ENIConfig name from /v1/eni-configs ("default" when none); empty if unknown.
	ENIConfig string
	// Env is /v1/ipamd-env-settings flattened to strings (WARM_IP_TARGET, WARM_ENI_TARGET, ...).
	Env map[string]string
	// NetworkUtilsEnv is /v1/networkutils-env-settings flattened to strings.
	NetworkUtilsEnv map[string]string
}

// HasDatastore reports whether ipamd's datastore (/v1/enis) was read: the other endpoints
// can answer while /v1/enis fails or a bundle's enis.json is unusable, and then the ENIs and
// their addresses are unknown, not zero.
func (i *IPAMD) HasDatastore() bool { return i != nil && i.Shape != "" }

// ENI is one elastic network interface in ipamd's datastore, with derived counts.
type ENI struct {
	ID           string
	NetworkCard  int
	DeviceNumber int
	SubnetID     string // v1.22+; else filled from IMDS by the caller when possible
	RouteTableID string
	IsPrimary    bool
	IsTrunk      bool
	IsEFA        bool
	IsExcluded   bool // IsExcludedForPodIPs

	// Slots is the number of address slots in use on the ENI: secondary /32s plus /28 prefixes.
	Slots int
	// Prefixes is how many of the slots are /28 prefixes.
	Prefixes int
	// SecondaryIPs is how many of the slots are /32 secondary addresses.
	SecondaryIPs int
	// IPv6Prefixes counts IPv6 prefixes (IPv6 mode).
	IPv6Prefixes int
	// Addresses is the pod addresses the slots provide: SecondaryIPs + 16*Prefixes.
	Addresses int
	// Assigned is addresses held by pods.
	Assigned int
	// Cooldown is released addresses still in IP_COOLDOWN_PERIOD.
	Cooldown int
	// Free is Addresses - Assigned - Cooldown.
	Free int
	// CIDRs lists the slot CIDRs (for subnet arithmetic; never exported as labels).
	CIDRs []string
}

// CNIMetrics is what aws-node's :61678/metrics reported. Gauges are pointers: nil = series absent.
type CNIMetrics struct {
	Version         string // awscni_build_info{version}
	ENIMax          *float64
	IPMax           *float64
	ENIAllocated    *float64
	TotalIPs        *float64
	AssignedIPs     *float64
	TotalIPv4Prefix *float64

	// Counter increases since the previous poll (reset-aware). On the first poll they are zero.
	NoAvailableIPIncrease float64
	// APIErrorIncrease is awscni_aws_api_error_count increases keyed by EC2 error code.
	APIErrorIncrease map[string]float64
	// IpamdErrorIncrease is awscni_ipamd_error_count increases keyed by fn.
	IpamdErrorIncrease map[string]float64
	// EC2APIErrorIncrease is awscni_ec2api_error_count increases keyed by fn.
	EC2APIErrorIncrease map[string]float64
	// APIErrorTotal is the cumulative awscni_aws_api_error_count keyed by error code
	// (used by one-shot diagnosis where no previous poll exists).
	APIErrorTotal map[string]float64
	// NoAvailableIPTotal is the cumulative awscni_no_available_ip_addresses (nil if absent).
	NoAvailableIPTotal *float64
	// Dropped counts this scrape's samples refused as impossible (NaN, ±Inf, a negative or
	// astronomical counter, a gauge beyond any instance), by reason; nil when none was.
	Dropped map[string]int `json:",omitempty"`
}

// Metadata is what the instance metadata service reported.
type Metadata struct {
	InstanceID       string
	InstanceType     string
	Region           string
	AvailabilityZone string
	AZID             string
	PrimaryMAC       string
	LocalIPv4        string
	Interfaces       []Interface
}

// Interface is one ENI as IMDS sees it.
type Interface struct {
	MAC          string
	InterfaceID  string
	DeviceNumber int
	NetworkCard  int
	SubnetID     string
	SubnetCIDR   string
	VPCID        string
	VPCCIDRs     []string
	LocalIPv4s   []string
	IPv4Prefixes []string
	IPv6s        []string
	IPv6Prefixes []string
}

// Kube is what the Kubernetes API said about this node, its pods and its aws-node container.
type Kube struct {
	// FromAPI is true when the Node and its pods were read from the Kubernetes API. A Kube
	// built only from the aws-node container env (a log-collector bundle) leaves it false:
	// its node and pod fields are then unknown, not zero.
	FromAPI bool

	NodeName        string
	Zone            string
	InstanceTypeLbl string // node.kubernetes.io/instance-type
	CreationTime    time.Time
	AllocatablePods int
	CapacityPods    int
	// PodENICapacity is capacity vpc.amazonaws.com/pod-eni (branch ENI budget); 0 = not advertised.
	PodENICapacity int
	// ENIConfigName is the ENIConfig the node is labelled/annotated with, if any.
	ENIConfigName string

	// Pods scheduled to this node that are not finished (Succeeded/Failed excluded).
	Pods            int
	HostNetworkPods int
	// PodENIRequests sums requests of vpc.amazonaws.com/pod-eni over the node's pods.
	PodENIRequests int
	// PendingSandboxPods counts pods on this node that have been scheduled but have no pod IP yet.
	PendingSandboxPods int

	// AWSNodeEnv is the env of the aws-node container on this node (literal values only).
	AWSNodeEnv map[string]string
	// AWSNodeImage is the aws-node container image (tells the CNI version).
	AWSNodeImage string
}

// Kubelet is the node's kubelet configuration as far as ipamwatch can read it.
type Kubelet struct {
	MaxPods int    // 0 = unknown
	Source  string // where MaxPods came from, for evidence
}

// LogSummary is what the log tailer classified, over the agent's lifetime (counters) and
// over a recent window (for the diagnosis).
type LogSummary struct {
	// Files names the files followed and whether they are readable.
	Files []LogFile
	// Classes is keyed by logparse class name (never "none").
	Classes map[string]ClassStats
	// Window is the length of the recent window that Recent counts cover.
	Window time.Duration
	// LastHypervisor is "nitro" or "xen" when ipamd's own lines revealed it; else "".
	LastHypervisor string
}

// LogFile is the state of one followed log file.
type LogFile struct {
	Path     string
	Readable bool
	Err      string
	Lines    uint64
	Bytes    uint64
}

// ClassStats aggregates the events of one class.
type ClassStats struct {
	Total  uint64    // since start
	Recent int       // within the window
	First  time.Time // first seen (log time when known, else read time)
	Last   time.Time
	// Example is one recent line (truncated) for evidence; never exported as a label.
	Example string
	// Code is the most recent EC2 error code seen with this class.
	Code string
	// SubnetID / ENI last mentioned with this class, if any.
	SubnetID string
	ENI      string
}

// SubnetView is what the cluster-level subnet analysis knows about one subnet: the numbers no
// node can see (EC2's view of every ENI and reservation in the subnet).
type SubnetView struct {
	SubnetID         string
	AvailabilityZone string
	Size             int
	// FreeAddresses EC2 may still assign; FreePrefixBlocks is free aligned /28 blocks.
	FreeAddresses    int
	FreePrefixBlocks int
	// LargestFreeBlock is the size in addresses of the largest aligned free block.
	LargestFreeBlock int
	// FragmentationRatio is the share (0-1) of free addresses that cannot form a free /28.
	FragmentationRatio float64
	// LeakedENIs counts detached ENIs the VPC CNI created and left behind in the subnet;
	// LeakedAddresses is the addresses they hold.
	LeakedENIs      int
	LeakedAddresses int
	// At is when the analysis last polled EC2 successfully.
	At time.Time
	// Trend is how fast the subnet fills, from the analysis' recent EC2 polls as the agent saw
	// them (nil until there are enough).
	Trend *SubnetTrend
}

// SubnetTrend is a subnet's consumption rate over the cluster view's recent polls.
type SubnetTrend struct {
	// PerHour is the least-squares slope of the used addresses (the negative of the free ones),
	// addresses per hour; negative when the subnet empties.
	PerHour float64
	// Span is the time between the first and the last poll used; Polls how many there were.
	Span  time.Duration
	Polls int
}
