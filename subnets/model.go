package subnets

import (
	"strings"
	"time"
)

// Subnet is one EC2 subnet as DescribeSubnets reports it.
type Subnet struct {
	ID                 string            `json:"subnet_id"`
	VPCID              string            `json:"vpc_id"`
	AvailabilityZone   string            `json:"availability_zone"`
	AvailabilityZoneID string            `json:"availability_zone_id,omitempty"`
	CIDR               string            `json:"cidr,omitempty"` // IPv4 CIDR; empty for an IPv6-only subnet
	IPv6CIDRs          []string          `json:"ipv6_cidrs,omitempty"`
	AvailableIPs       int               `json:"ec2_available_addresses"` // EC2's AvailableIpAddressCount
	Tags               map[string]string `json:"-"`
}

// NetworkInterface is one ENI as DescribeNetworkInterfaces reports it, reduced to what the
// block arithmetic and the holder classification need.
type NetworkInterface struct {
	ID            string
	SubnetID      string
	InterfaceType string // EC2 InterfaceType: interface, branch, trunk, natGateway, lambda, ...
	Description   string
	Status        string
	InstanceID    string // attachment.instanceId; empty when not attached to an instance
	// PrivateIPs lists every private IPv4 address of the ENI, primary first when known.
	PrivateIPs []string
	// Prefixes lists the /28 prefixes delegated to the ENI (Ipv4Prefixes).
	Prefixes []string
	Tags     map[string]string
}

// Reservation kinds (EC2 SubnetCidrReservationType).
const (
	ReservationExplicit = "explicit"
	ReservationPrefix   = "prefix"
)

// Reservation is one subnet CIDR reservation (GetSubnetCidrReservations).
type Reservation struct {
	ID   string `json:"id"`
	CIDR string `json:"cidr"`
	Type string `json:"type"` // ReservationExplicit or ReservationPrefix
}

// Holders: the bounded set of values of the `holder` label. Who holds an address decides
// what an operator can do about it: only cluster nodes can be drained.
const (
	HolderClusterNode    = "cluster_node"    // an ENI attached to an instance of this cluster
	HolderOtherInstance  = "other_instance"  // an ENI attached to an instance outside the cluster
	HolderBranch         = "branch"          // a branch ENI (security groups for pods)
	HolderTrunk          = "trunk"           // a trunk ENI
	HolderUnattached     = "unattached"      // an instance-type ENI attached to nothing (leaked or warm)
	HolderNATGateway     = "nat_gateway"     // InterfaceType natGateway
	HolderLoadBalancer   = "load_balancer"   // load_balancer, network_load_balancer, gateway_load_balancer
	HolderVPCEndpoint    = "vpc_endpoint"    // vpc_endpoint, gateway_load_balancer_endpoint
	HolderLambda         = "lambda"          // InterfaceType lambda
	HolderTransitGateway = "transit_gateway" // InterfaceType transit_gateway
	HolderOtherService   = "other_service"   // any other InterfaceType (quicksight, api_gateway_managed, ...)
)

// Holders lists every holder value, in the order reports print them.
var holderOrder = []string{
	HolderClusterNode, HolderOtherInstance, HolderBranch, HolderTrunk, HolderUnattached,
	HolderNATGateway, HolderLoadBalancer, HolderVPCEndpoint, HolderLambda, HolderTransitGateway,
	HolderOtherService,
}

// Holders returns the bounded set of `holder` label values.
func Holders() []string { return append([]string(nil), holderOrder...) }

// ENI tags the VPC CNI sets on the ENIs it creates, and the description of branch ENIs.
const (
	tagCNIClusterName = "cluster.k8s.amazonaws.com/name"
	tagCNIInstanceID  = "node.k8s.amazonaws.com/instance_id"
	tagCNICreatedAt   = "node.k8s.amazonaws.com/createdAt"
	// cniDescriptionPrefix starts the description of every ENI ipamd creates ("aws-K8S-i-...").
	cniDescriptionPrefix = "aws-K8S-"
	// leakedMinAge is how old a detached CNI ENI must be before ipamd itself deletes it.
	leakedMinAge = 5 * time.Minute
)

// IsLeakedCNIENI reports whether an ENI is one the VPC CNI created and left behind: detached
// (status available), tagged node.k8s.amazonaws.com/instance_id, described "aws-K8S-...", and
// created at least 5 minutes before now (or without a creation tag). These are the ENIs ipamd's
// own hourly cleanup deletes (getLeakedENIs in amazon-vpc-cni-k8s v1.23.0
// pkg/awsutils/awsutils.go), unless DISABLE_LEAKED_ENI_CLEANUP is set.
func IsLeakedCNIENI(e NetworkInterface, now time.Time) bool {
	if e.Status != "available" || e.Tags[tagCNIInstanceID] == "" || !strings.HasPrefix(e.Description, cniDescriptionPrefix) {
		return false
	}
	if created, err := time.Parse(time.RFC3339, e.Tags[tagCNICreatedAt]); err == nil && !now.IsZero() && now.Sub(created) < leakedMinAge {
		return false
	}
	return true
}

// Cluster says which instances belong to the cluster, so their ENIs count as cluster nodes.
type Cluster struct {
	// Name is the EKS cluster name; ENIs tagged cluster.k8s.amazonaws.com/name=Name belong to it.
	Name string
	// Nodes maps instance id to Kubernetes node name (the name may be empty when only the
	// instance id is known, e.g. from ENI tags).
	Nodes map[string]string
}

// WithENITags returns a copy of c that also knows the instances that the ENIs' CNI tags
// place in the cluster: the VPC CNI tags every ENI it creates with the cluster name and the
// instance id, and the node's other ENIs (the primary one) share that instance.
func (c Cluster) WithENITags(enis []NetworkInterface) Cluster {
	out := Cluster{Name: c.Name, Nodes: make(map[string]string, len(c.Nodes))}
	for id, name := range c.Nodes {
		out.Nodes[id] = name
	}
	if c.Name == "" {
		return out
	}
	for _, e := range enis {
		if e.Tags[tagCNIClusterName] != c.Name {
			continue
		}
		id := e.InstanceID
		if id == "" {
			id = e.Tags[tagCNIInstanceID]
		}
		if id == "" || e.InterfaceType == "branch" {
			continue
		}
		if _, ok := out.Nodes[id]; !ok {
			out.Nodes[id] = ""
		}
	}
	return out
}

// HolderOf classifies an ENI into the bounded holder set.
func HolderOf(e NetworkInterface, c Cluster) string {
	switch e.InterfaceType {
	case "", "interface", "efa", "efa-only":
		if e.InstanceID == "" {
			return HolderUnattached
		}
		if _, ok := c.Nodes[e.InstanceID]; ok {
			return HolderClusterNode
		}
		return HolderOtherInstance
	case "branch":
		return HolderBranch
	case "trunk":
		return HolderTrunk
	case "natGateway", "nat_gateway":
		return HolderNATGateway
	case "load_balancer", "network_load_balancer", "gateway_load_balancer":
		return HolderLoadBalancer
	case "vpc_endpoint", "gateway_load_balancer_endpoint":
		return HolderVPCEndpoint
	case "lambda":
		return HolderLambda
	case "transit_gateway":
		return HolderTransitGateway
	default:
		return HolderOtherService
	}
}
