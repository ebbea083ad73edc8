package diagnosis

import (
	"time"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

var t0 = time.Date(2026, 11, 26, 2, 14, 0, 0, time.UTC)

func f64(v float64) *float64 { return &v }

// secondaryENI builds an ENI in secondary-IP mode.
func secondaryENI(id, subnet string, device int, primary bool, slots, assigned, cooldown int) nodestate.ENI {
	return nodestate.ENI{
		ID: id, DeviceNumber: device, SubnetID: subnet, IsPrimary: primary,
		Slots: slots, SecondaryIPs: slots, Addresses: slots,
		Assigned: assigned, Cooldown: cooldown, Free: slots - assigned - cooldown,
	}
}

// prefixENI builds an ENI in prefix mode.
func prefixENI(id, subnet string, device int, primary bool, prefixes, assigned, cooldown int) nodestate.ENI {
	return nodestate.ENI{
		ID: id, DeviceNumber: device, SubnetID: subnet, IsPrimary: primary,
		Slots: prefixes, Prefixes: prefixes, Addresses: 16 * prefixes,
		Assigned: assigned, Cooldown: cooldown, Free: 16*prefixes - assigned - cooldown,
	}
}

func upSources() map[string]nodestate.SourceStatus {
	return map[string]nodestate.SourceStatus{
		nodestate.SourceIPAMD:      {Up: true, LastSuccess: t0},
		nodestate.SourceCNIMetrics: {Up: true, LastSuccess: t0},
		nodestate.SourceIMDS:       {Up: true, LastSuccess: t0},
		nodestate.SourceKube:       {Up: true, LastSuccess: t0},
		nodestate.SourceLogs:       {Up: true, LastSuccess: t0},
	}
}

// healthySecondary is an m5.large (3 ENIs x 10 IPv4) in secondary-IP mode with the default
// settings, 12 pods of which 2 on the host network, and nothing wrong.
func healthySecondary() *nodestate.State {
	enis := []nodestate.ENI{
		secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 9, 8, 0),
		secondaryENI("eni-0aaa0000000000002", "subnet-node", 1, false, 9, 2, 1),
	}
	return &nodestate.State{
		Time: t0,
		IPAMD: &nodestate.IPAMD{
			Shape: "multi_card", TotalIPs: 18, AssignedIPs: 10, ENIs: enis, ENIConfig: "default",
			Env: map[string]string{"WARM_IP_TARGET": "0", "WARM_ENI_TARGET": "1", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false"},
		},
		CNI: &nodestate.CNIMetrics{
			Version: "v1.20.4", ENIMax: f64(3), IPMax: f64(27), ENIAllocated: f64(2),
			TotalIPs: f64(18), AssignedIPs: f64(10), TotalIPv4Prefix: f64(0),
			APIErrorIncrease: map[string]float64{}, APIErrorTotal: map[string]float64{},
		},
		Metadata: &nodestate.Metadata{
			InstanceID: "i-0123456789abcdef0", InstanceType: "m5.large", Region: "eu-west-1",
			AvailabilityZone: "eu-west-1a", AZID: "euw1-az1", PrimaryMAC: "0a:00:00:00:00:01", LocalIPv4: "10.0.1.10",
			Interfaces: []nodestate.Interface{
				{MAC: "0a:00:00:00:00:01", InterfaceID: "eni-0aaa0000000000001", SubnetID: "subnet-node", SubnetCIDR: "10.0.1.0/24", VPCID: "vpc-1"},
				{MAC: "0a:00:00:00:00:02", InterfaceID: "eni-0aaa0000000000002", DeviceNumber: 1, SubnetID: "subnet-node", SubnetCIDR: "10.0.1.0/24", VPCID: "vpc-1"},
			},
		},
		Kube: &nodestate.Kube{
			FromAPI:  true,
			NodeName: "ip-10-0-1-10.eu-west-1.compute.internal", Zone: "eu-west-1a", InstanceTypeLbl: "m5.large",
			CreationTime: t0.Add(-48 * time.Hour), AllocatablePods: 29, CapacityPods: 29,
			Pods: 12, HostNetworkPods: 2,
			AWSNodeEnv: map[string]string{
				"WARM_ENI_TARGET": "1", "WARM_PREFIX_TARGET": "1", "ENABLE_PREFIX_DELEGATION": "false",
				"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false", "ENABLE_POD_ENI": "false", "ENABLE_IPv6": "false", "ENABLE_IPv4": "true",
			},
			AWSNodeImage: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.20.4-eksbuild.1",
		},
		Kubelet: &nodestate.Kubelet{MaxPods: 29, Source: "kubelet/config.json"},
		Logs: &nodestate.LogSummary{
			Files:   []nodestate.LogFile{{Path: "ipamd.log", Readable: true, Lines: 5000, Bytes: 900000}},
			Classes: map[string]nodestate.ClassStats{},
			Window:  15 * time.Minute, LastHypervisor: HypervisorNitro,
		},
		Sources: upSources(),
	}
}

// healthyPrefix is an m5.large with prefix delegation and max-pods 110.
func healthyPrefix() *nodestate.State {
	st := healthySecondary()
	st.IPAMD.ENIs = []nodestate.ENI{prefixENI("eni-0aaa0000000000001", "subnet-node", 0, true, 3, 38, 2)}
	st.IPAMD.TotalIPs, st.IPAMD.AssignedIPs = 48, 38
	st.CNI.IPMax, st.CNI.ENIAllocated, st.CNI.TotalIPs, st.CNI.AssignedIPs, st.CNI.TotalIPv4Prefix = f64(432), f64(1), f64(48), f64(38), f64(3)
	st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = "true"
	st.Kube.AllocatablePods, st.Kube.CapacityPods, st.Kubelet.MaxPods = 110, 110, 110
	st.Kube.Pods = 40
	return st
}

// logClass sets a recent log class.
func logClass(st *nodestate.State, class logparse.Class, code, subnet, example string) {
	st.Logs.Classes[class.String()] = nodestate.ClassStats{
		Total: 7, Recent: 5, First: t0.Add(-10 * time.Minute), Last: t0.Add(-1 * time.Minute),
		Example: example, Code: code, SubnetID: subnet,
	}
}

// fillSecondary attaches all 3 ENIs and uses every slot: 25 assigned, 2 in cooldown, one
// admitted pod waiting for an IP.
func fillSecondary(st *nodestate.State) {
	st.IPAMD.ENIs = []nodestate.ENI{
		secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 9, 9, 0),
		secondaryENI("eni-0aaa0000000000002", "subnet-node", 1, false, 9, 9, 0),
		secondaryENI("eni-0aaa0000000000003", "subnet-node", 2, false, 9, 7, 2),
	}
	st.IPAMD.TotalIPs, st.IPAMD.AssignedIPs = 27, 25
	st.CNI.ENIAllocated, st.CNI.TotalIPs, st.CNI.AssignedIPs = f64(3), f64(27), f64(25)
	st.Kube.Pods, st.Kube.PendingSandboxPods = 28, 1
}
