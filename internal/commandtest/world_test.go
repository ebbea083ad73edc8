package commandtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// The world the commands run in: the demo's node (its name, instance, type, subnets and
// aws-node settings come from the demo scenarios), as EC2, IAM, Service Quotas, EKS and the
// Kubernetes API would describe it. Every value a command's --query or JSONPath selects
// exists here, so an empty answer means a wrong query, not a sparse fixture.
type world struct {
	Region, AZ, VPC, Cluster            string
	Node, InstanceID, InstanceType      string
	NodeSubnet, NodeCIDR                string
	PodSubnet, PodCIDR, ENIConfig       string
	CNIVersion                          string
	InstanceProfile, NodeRole, IRSARole string
	PodIdentityRole, PodIdentityID      string
	Boundary                            string
	// K8sVersion is the cluster's Kubernetes version (EKS DescribeCluster); AddonVersion the
	// newest vpc-cni add-on version the fake publishes for it, what a person picks to upgrade to.
	K8sVersion, AddonVersion string
	// AWSNodeEnv is the aws-node container's env (awsNodeEnv).
	AWSNodeEnv map[string]string
	// FreeCIDR is a /28 of the node subnet that no reservation covers.
	FreeCIDR string
}

func demoWorld(t testing.TB) world {
	t.Helper()
	healthy, err := demo.Lookup("healthy")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := demo.Lookup("custom-networking-stale")
	if err != nil {
		t.Fatal(err)
	}
	if custom.PodSubnet == nil {
		t.Fatal("demo scenario custom-networking-stale has no pod subnet")
	}
	w := world{
		Region: "us-west-2", AZ: "us-west-2a", VPC: "vpc-0demo", Cluster: "demo",
		Node: demo.NodeName, InstanceID: demoInstanceID, InstanceType: healthy.InstanceType,
		NodeSubnet: healthy.NodeSubnet.ID, NodeCIDR: healthy.NodeSubnet.CIDR,
		PodSubnet: custom.PodSubnet.ID, PodCIDR: custom.PodSubnet.CIDR, ENIConfig: "us-west-2a",
		CNIVersion:      healthy.CNIVersion,
		InstanceProfile: "eks-demo-node", NodeRole: "eks-demo-node-role", IRSARole: "eks-demo-aws-node-irsa",
		PodIdentityRole: "eks-demo-aws-node-pod-identity", PodIdentityID: "a-0demoawsnode00001",
		Boundary:   "arn:aws:iam::" + fakeec2.Account + ":policy/eks-demo-boundary",
		FreeCIDR:   "10.20.40.0/28",
		K8sVersion: "1.33", AddonVersion: "v1.23.0-eksbuild.1", // the CNI release the advice cites; the build suffix is the fake's
	}
	w.AWSNodeEnv = awsNodeEnv(t, w.Cluster)
	return w
}

// demoInstanceID is the instance id of the demo node (its providerID and its bundle's
// system/instance-id.txt).
const demoInstanceID = "i-0d3c5e7a9b1f24680"

// eni is the id of the ENI at device index dev, as the demo names them.
func (w world) eni(dev int) string { return fmt.Sprintf("eni-0%015x", 0xa11ce0000+dev*0x1111) }

// availableENI is a detached ENI left in the node subnet: an ENI ipamd created for a node
// that is gone (goneInstanceID), with the tags and description amazon-vpc-cni-k8s v1.23.0
// pkg/awsutils/awsutils.go gives the ENIs it creates (createENITags, buildENITags:
// node.k8s.amazonaws.com/instance_id, node.k8s.amazonaws.com/createdAt,
// cluster.k8s.amazonaws.com/name; eniDescriptionPrefix "aws-K8S-" and the instance id), so
// that ipamd's own leaked-ENI query (getLeakedENIs) and the leaked_enis confirm find it.
const (
	availableENI   = "eni-0dea11ab1e0000001"
	goneInstanceID = "i-0123456789abcdef0"
)

func (w world) roleARN(name string) string { return fakeec2.Role{Name: name}.ARN() }

// loadAWS fills the fake with the world's EC2, IAM, Service Quotas and EKS state.
func (w world) loadAWS(srv *fakeec2.Server) {
	srv.Lock()
	defer srv.Unlock()
	srv.Subnets = []fakeec2.Subnet{
		{ID: w.NodeSubnet, VPCID: w.VPC, AZ: w.AZ, AZID: "usw2-az1", CIDR: w.NodeCIDR, Available: 3980,
			Tags: map[string]string{"kubernetes.io/cluster/" + w.Cluster: "shared"}},
		{ID: w.PodSubnet, VPCID: w.VPC, AZ: w.AZ, AZID: "usw2-az1", CIDR: w.PodCIDR, Available: 8187},
	}
	// The other demo scenarios' subnets: a runbook finds the subnet from the agent's metrics,
	// and the agent of a failing scenario reports that scenario's subnet.
	for _, sc := range demo.Scenarios() {
		sub := sc.NodeSubnet
		if sub.ID == "" || slices.ContainsFunc(srv.Subnets, func(x fakeec2.Subnet) bool { return x.ID == sub.ID }) {
			continue
		}
		free := sub.FreeAddresses
		if free < 0 {
			free = 1000
		}
		srv.Subnets = append(srv.Subnets, fakeec2.Subnet{ID: sub.ID, VPCID: w.VPC, AZ: w.AZ, AZID: "usw2-az1", CIDR: sub.CIDR, Available: free})
	}
	srv.ENIs = []fakeec2.ENI{
		{ID: w.eni(0), SubnetID: w.NodeSubnet, Type: "interface", InstanceID: w.InstanceID, DeviceIndex: 0, PrimaryIP: "10.20.33.17",
			SecondaryIPs: []string{"10.20.33.40", "10.20.33.41", "10.20.33.42"}, Description: ""},
		{ID: w.eni(1), SubnetID: w.NodeSubnet, Type: "interface", InstanceID: w.InstanceID, DeviceIndex: 1, PrimaryIP: "10.20.34.5",
			SecondaryIPs: []string{"10.20.34.6", "10.20.34.7"}, Description: "aws-K8S-" + w.InstanceID,
			Tags: map[string]string{"node.k8s.amazonaws.com/instance_id": w.InstanceID}},
		{ID: availableENI, SubnetID: w.NodeSubnet, Type: "interface", Status: "available", PrimaryIP: "10.20.35.9",
			Description: "aws-K8S-" + goneInstanceID, Tags: map[string]string{"node.k8s.amazonaws.com/instance_id": goneInstanceID,
				"node.k8s.amazonaws.com/createdAt": "2026-11-20T08:00:00Z", "cluster.k8s.amazonaws.com/name": w.Cluster}},
	}
	srv.Reservations = []fakeec2.Reservation{{ID: "scr-0demo000000000001", SubnetID: w.NodeSubnet, CIDR: "10.20.44.0/24", Type: "prefix"}}
	srv.InstanceTypes = []fakeec2.InstanceType{
		{Name: w.InstanceType, VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", CardMaxENIs: []int{3}},
	}
	srv.Instances = []fakeec2.Instance{{
		ID: w.InstanceID, Type: w.InstanceType, AZ: w.AZ, SubnetID: w.NodeSubnet, VPCID: w.VPC,
		PrivateIP: "10.20.33.17", PrivateDNSName: w.Node,
		InstanceProfileARN: fakeec2.InstanceProfile{Name: w.InstanceProfile}.ARN(),
		Metadata:           fakeec2.MetadataOptions{HTTPEndpoint: "enabled", HTTPTokens: "required", HopLimit: 2},
		Tags:               map[string]string{"eks:cluster-name": w.Cluster, "eks:nodegroup-name": "demo"},
	}}
	allowAll := map[string]string{
		"ec2:AssignPrivateIpAddresses": "allowed", "ec2:CreateNetworkInterface": "allowed",
		"ec2:AttachNetworkInterface": "allowed", "ec2:DescribeNetworkInterfaces": "allowed", "ec2:DescribeInstances": "allowed",
	}
	srv.InstanceProfiles = []fakeec2.InstanceProfile{{Name: w.InstanceProfile, Roles: []string{w.NodeRole}}}
	cni := "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
	srv.Roles = []fakeec2.Role{
		{Name: w.NodeRole, AttachedPolicies: []string{"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", cni},
			InlinePolicies: []string{"node-extra"}, PermissionsBoundary: w.Boundary, Decisions: allowAll},
		// The IRSA role lost its CNI policy: IAM denies the address calls.
		{Name: w.IRSARole, AttachedPolicies: []string{"arn:aws:iam::" + fakeec2.Account + ":policy/eks-demo-readonly"},
			InlinePolicies: []string{"deny-eni-writes"}, PermissionsBoundary: w.Boundary,
			Decisions: map[string]string{"ec2:DescribeNetworkInterfaces": "allowed", "ec2:AssignPrivateIpAddresses": "explicitDeny"}},
		{Name: w.PodIdentityRole, AttachedPolicies: []string{cni}, InlinePolicies: []string{"pod-identity-extra"},
			PermissionsBoundary: w.Boundary, Decisions: allowAll},
	}
	srv.Quotas = []fakeec2.Quota{{ServiceCode: "vpc", ServiceName: "Amazon Virtual Private Cloud (Amazon VPC)",
		QuotaCode: "L-DF5E4CA3", QuotaName: "Network interfaces per Region", Value: 5000}}
	srv.PodIdentities = []fakeec2.PodIdentityAssociation{{Cluster: w.Cluster, ID: w.PodIdentityID, Namespace: "kube-system",
		ServiceAccount: "aws-node", RoleARN: w.roleARN(w.PodIdentityRole)}}
	srv.Addons = []fakeec2.Addon{{Cluster: w.Cluster, Name: "vpc-cni", Version: w.CNIVersion + "-eksbuild.1"}}
	srv.Clusters = []fakeec2.Cluster{{Name: w.Cluster, Version: w.K8sVersion}}
	// Newest first, as EKS lists them; the installed version is older.
	srv.AddonVersions = []fakeec2.AddonVersion{
		{Addon: "vpc-cni", Version: w.AddonVersion, ClusterVersions: []string{"1.34", w.K8sVersion}},
		{Addon: "vpc-cni", Version: w.CNIVersion + "-eksbuild.1", ClusterVersions: []string{w.K8sVersion, "1.32"}, Default: []string{w.K8sVersion}},
	}
}
