package diagnosis

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata")

type scenario struct {
	name  string
	state func() *nodestate.State
	// want is the exact set of finding causes, in report order.
	want []Cause
	// binding and headroom are checked when binding is not empty.
	binding  Ceiling
	headroom int
	// golden writes/compares testdata/<name>.txt and .json.
	golden bool
}

func scenarios() []scenario {
	return []scenario{
		{name: "healthy", state: healthySecondary, want: nil, binding: CeilingNone, headroom: 16, golden: true},
		{name: "healthy-prefix", state: healthyPrefix, want: nil, binding: CeilingNone, headroom: 70, golden: true},

		// subnet_exhausted vs prefix_fragmented
		{name: "subnet-exhausted", golden: true, binding: CeilingSubnet, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD.ENIs[0].Free, st.IPAMD.ENIs[0].Assigned = 0, 9
			st.IPAMD.ENIs[1].Free, st.IPAMD.ENIs[1].Assigned, st.IPAMD.ENIs[1].Cooldown = 0, 9, 0
			st.Kube.Pods, st.Kube.PendingSandboxPods = 22, 2
			logClass(st, logparse.SubnetExhausted, codeInsufficientFreeAddresses, "subnet-node",
				`{"level":"error","ts":"2026-11-26T02:13:00.000Z","msg":"Failed to increase pool size due to not able to allocate ENI AllocENI: error creating network interface: operation error EC2: CreateNetworkInterface, https response error StatusCode: 400, api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses to satisfy the request."}`)
			logClass(st, logparse.IPPoolEmpty, "", "", `{"level":"error","msg":"AssignPodIPAddress: no available IP/Prefix addresses"}`)
			return st
		}, want: []Cause{CauseSubnetExhausted}},
		{name: "subnet-exhausted-from-cni-total-one-shot", state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = nil
			st.CNI.APIErrorTotal = map[string]float64{codeInsufficientFreeAddresses: 4}
			return st
		}, want: []Cause{CauseSubnetExhausted}},
		{name: "near-miss/subnet-errors-old-in-agent", state: func() *nodestate.State {
			st := healthySecondary()
			// Cumulative errors from long ago, none since the last poll and none in the window.
			st.CNI.APIErrorTotal = map[string]float64{codeInsufficientFreeAddresses: 4}
			st.Logs.Classes[logparse.SubnetExhausted.String()] = nodestate.ClassStats{Total: 4, Recent: 0, Last: t0.Add(-5 * time.Hour)}
			return st
		}, want: nil},
		{name: "prefix-fragmented", golden: true, binding: CeilingPrefixFragmentation, headroom: 8, state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, logparse.PrefixFragmented, codeInsufficientCidrBlocks, "subnet-node",
				`{"level":"error","msg":"Failed to allocate a private IP/Prefix addresses on ENI eni-0aaa0000000000001: operation error EC2: AssignPrivateIpAddresses, https response error StatusCode: 400, api error InsufficientCidrBlocks: There are not enough free cidr blocks in the specified subnet to satisfy the request."}`)
			st.CNI.APIErrorIncrease = map[string]float64{codeInsufficientCidrBlocks: 2}
			return st
		}, want: []Cause{CausePrefixFragmented}},
		{name: "near-miss/both-codes-means-subnet-full", state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, logparse.PrefixFragmented, codeInsufficientCidrBlocks, "subnet-node", "InsufficientCidrBlocks")
			st.CNI.APIErrorIncrease = map[string]float64{codeInsufficientCidrBlocks: 2, codeInsufficientFreeAddresses: 1}
			return st
		}, want: []Cause{CauseSubnetExhausted}},
		{name: "follow-up-line-with-cidr-code-is-fragmentation", state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, logparse.SubnetExhausted, codeInsufficientCidrBlocks, "subnet-node",
				"Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation")
			return st
		}, want: []Cause{CausePrefixFragmented}},

		// ENI limit
		{name: "eni-limit", golden: true, binding: CeilingENI, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			logClass(st, logparse.ENILimit, "", "", `{"level":"debug","msg":"Skipping ENI allocation as the max ENI limit is already reached"}`)
			logClass(st, logparse.IPPoolEmpty, "", "", `{"level":"error","msg":"AssignPodIPAddress: no available IP/Prefix addresses"}`)
			return st
		}, want: []Cause{CauseENILimit}},
		{name: "eni-limit-without-debug-line", state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			return st
		}, want: []Cause{CauseENILimit}},
		{name: "near-miss/at-eni-limit-with-free-ips", state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			st.IPAMD.ENIs[2].Assigned, st.IPAMD.ENIs[2].Cooldown, st.IPAMD.ENIs[2].Free = 4, 0, 5
			st.Kube.Pods, st.Kube.PendingSandboxPods = 24, 0
			logClass(st, logparse.ENILimit, "", "", "Skipping ENI allocation as the max ENI limit is already reached")
			return st
		}, want: nil},
		{name: "near-miss/full-node-nothing-waiting", state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			st.Kube.PendingSandboxPods = 0
			return st
		}, want: nil},

		{name: "eni-quota", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.ENIQuota, "NetworkInterfaceLimitExceeded", "", "api error NetworkInterfaceLimitExceeded: The maximum number of network interfaces has been reached.")
			return st
		}, want: []Cause{CauseENIQuota}, binding: CeilingENI, headroom: 7},
		{name: "near-miss/other-error-is-not-quota", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.OtherError, "", "", "Failed to get ENI eni-1 information from EC2 control plane")
			return st
		}, want: nil},

		{name: "throttled", golden: true, binding: CeilingThrottling, headroom: 7, state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = map[string]float64{"RequestLimitExceeded": 3}
			return st
		}, want: []Cause{CauseEC2Throttled}},
		{name: "near-miss/throttle-count-without-increase", state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = map[string]float64{"RequestLimitExceeded": 0}
			st.CNI.APIErrorTotal = map[string]float64{"RequestLimitExceeded": 12}
			return st
		}, want: nil},

		{name: "unauthorized", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.Unauthorized, codeUnauthorizedOperation, "", "api error UnauthorizedOperation: You are not authorized to perform this operation.")
			return st
		}, want: []Cause{CauseUnauthorized}, binding: CeilingIAM, headroom: 7},
		{name: "near-miss/unauthorized-outside-window", state: func() *nodestate.State {
			st := healthySecondary()
			st.Logs.Classes[logparse.Unauthorized.String()] = nodestate.ClassStats{Total: 2, Recent: 0, Last: t0.Add(-3 * time.Hour)}
			return st
		}, want: nil},

		{name: "imds-failure", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.IMDSFailure, "", "", "Unable to discover attached ENI from metadata service")
			return st
		}, want: []Cause{CauseIMDSFailure}},
		{name: "near-miss/ipamwatch-own-imds-down", state: func() *nodestate.State {
			st := healthySecondary()
			st.Metadata = nil
			st.Sources[nodestate.SourceIMDS] = nodestate.SourceStatus{Up: false, Err: "context deadline exceeded"}
			return st
		}, want: nil},

		{name: "ip-pool-empty", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			st.CNI.NoAvailableIPIncrease = 3
			return st
		}, want: []Cause{CauseIPPoolEmpty}},
		{name: "near-miss/pool-empty-explained-by-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			logClass(st, logparse.SubnetExhausted, codeInsufficientFreeAddresses, "subnet-node", "InsufficientFreeAddressesInSubnet")
			return st
		}, want: []Cause{CauseSubnetExhausted}},

		// The plugin cannot reach ipamd and ipamd does not answer: aws-node is not serving pods.
		// Line from https://github.com/aws/amazon-vpc-cni-k8s/issues/1590 (logparse/testdata/real.txt).
		{name: "aws-node-not-ready", golden: true, binding: CeilingIPAMD, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD = nil
			st.Sources = map[string]nodestate.SourceStatus{nodestate.SourceIPAMD: {Up: false, Err: "dial tcp 127.0.0.1:61679: connect: connection refused"}}
			logClass(st, logparse.AWSNodeNotReady, "", "", `{"level":"error","ts":"2021-08-25T16:57:52.632Z","caller":"routed-eni-cni-plugin/cni.go:240","msg":"Error received from DelNetwork gRPC call for container b85a01e25479: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing dial tcp 127.0.0.1:50051: connect: connection refused\""}`)
			return st
		}, want: []Cause{CauseAWSNodeNotReady}},
		// ipamd answers now: the refused connections were a start-up that then succeeded.
		{name: "near-miss/aws-node-not-ready-but-ipamd-answers", state: func() *nodestate.State {
			st := healthySecondary()
			st.Sources = map[string]nodestate.SourceStatus{nodestate.SourceIPAMD: {Up: true}}
			logClass(st, logparse.AWSNodeNotReady, "", "", "dial tcp 127.0.0.1:50051: connect: connection refused")
			return st
		}, want: nil},
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/2683: the ENIConfig named after the zone does not exist.
		{name: "custom-networking-misconfigured", golden: true, binding: CeilingENICreation, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIConfig = "us-east-1c"
			// Only the primary ENI, which carries no pods under custom networking: nothing to assign.
			st.IPAMD.ENIs = []nodestate.ENI{secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 0, 0, 0)}
			st.Kube.AllocatablePods, st.Kubelet.MaxPods, st.Kube.Pods, st.Kube.PendingSandboxPods = 20, 20, 4, 4
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			logClass(st, logparse.ENIConfigUnavailable, "", "", `{"level":"error","ts":"2023-11-27T22:54:08.373Z","caller":"ipamd/ipamd.go:889","msg":"error while retrieving eniconfig: ENIConfig.crd.k8s.amazonaws.com \"us-east-1c\" not found"}`)
			return st
		}, want: []Cause{CauseCustomNetworkingMisconfig}},
		{name: "near-miss/eniconfig-line-with-custom-networking-off", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.ENIConfigUnavailable, "", "", "Failed to get pod ENI config")
			return st
		}, want: nil},
		{name: "subnet-discovery-excluded", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.SubnetDiscoveryExcluded, "", "", `{"level":"error","msg":"Failed to increase pool size due to not able to allocate ENI AllocENI: error creating network interface: no valid subnets available for ENI creation - all subnets are either not tagged or tagged with kubernetes.io/role/cni=0"}`)
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			return st
		}, want: []Cause{CauseSubnetDiscoveryExcluded}},
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/533: CNI v1.5 on m5.metal.
		{name: "cni-unknown-instance-type", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.Version = "v1.5.0"
			logClass(st, logparse.CNIUnknownInstanceType, "", "", "* 2019-07-03T20:29:20Z [ERROR] Failed to get eni limit due to unknown instance type m5.metal")
			return st
		}, want: []Cause{CauseCNIUnknownInstanceType}},
		{name: "leaked-enis", state: func() *nodestate.State {
			st := healthySecondary()
			st.Subnets = map[string]nodestate.SubnetView{"subnet-node": {SubnetID: "subnet-node", Size: 256, FreeAddresses: 40, FreePrefixBlocks: 1, LeakedENIs: 3, LeakedAddresses: 27, At: t0}}
			return st
		}, want: []Cause{CauseLeakedENIs}},
		{name: "near-miss/leaked-enis-in-another-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			st.Subnets = map[string]nodestate.SubnetView{"subnet-other": {SubnetID: "subnet-other", Size: 256, FreeAddresses: 40, LeakedENIs: 3, LeakedAddresses: 27, At: t0}}
			return st
		}, want: nil},
		{name: "aws-node-rbac-denied", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.AWSNodeRBACDenied, "", "", `pods is forbidden: User "system:serviceaccount:kube-system:aws-node" cannot list resource "pods" in API group "" at the cluster scope`)
			return st
		}, want: []Cause{CauseAWSNodeRBACDenied}},
		{name: "near-miss/iam-denial-is-not-rbac", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, logparse.Unauthorized, "UnauthorizedOperation", "", "api error UnauthorizedOperation: You are not authorized to perform this operation.")
			return st
		}, want: []Cause{CauseUnauthorized}},
		// ENABLE_POD_ENI on a trunking-compatible m5.large before the trunk is attached: ipamd
		// keeps the third slot for it (hasRoomForEni), so two full ENIs are all there is. This
		// node used to report headroom 5, binding none and ip_pool_empty with no cause.
		{name: "trunk-slot-reserved-before-the-trunk", golden: true, binding: CeilingENI, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.IPAMD.ENIs[0].Free, st.IPAMD.ENIs[0].Assigned = 0, 9
			st.IPAMD.ENIs[1].Free, st.IPAMD.ENIs[1].Assigned, st.IPAMD.ENIs[1].Cooldown = 0, 9, 0
			st.Kube.Pods, st.Kube.PendingSandboxPods = 22, 2
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 29, 29
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			return st
		}, want: []Cause{CauseENILimit}},
		// Security groups for pods on m5.large: 18 pool IPs + 9 branch ENIs + 2 = 29 is right,
		// not "lower max-pods to 20".
		{name: "near-miss/max-pods-29-with-security-groups-for-pods", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Kube.PodENICapacity, st.Kube.PodENIRequests = 9, 3
			st.IPAMD.ENIs = append(st.IPAMD.ENIs, nodestate.ENI{ID: "eni-0aaa0000000000009", DeviceNumber: 2, SubnetID: "subnet-node", IsTrunk: true})
			return st
		}, want: nil},
		{name: "branch-eni", golden: true, binding: CeilingBranchENI, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Kube.PodENICapacity, st.Kube.PodENIRequests, st.Kube.PendingSandboxPods = 9, 9, 2
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			st.IPAMD.ENIs = append(st.IPAMD.ENIs, nodestate.ENI{ID: "eni-0aaa0000000000009", DeviceNumber: 2, SubnetID: "subnet-node", IsTrunk: true})
			logClass(st, logparse.BranchENI, "", "", "failed to get Branch ENI resource")
			return st
		}, want: []Cause{CauseBranchENIExhausted}},
		{name: "near-miss/branch-budget-one-left", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Kube.PodENICapacity, st.Kube.PodENIRequests = 9, 8
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: nil},

		{name: "max-pods-not-raised", golden: true, binding: CeilingMaxPods, headroom: 0, state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AllocatablePods, st.Kube.CapacityPods, st.Kubelet.MaxPods = 29, 29, 29
			st.Kube.Pods = 29
			return st
		}, want: []Cause{CauseMaxPodsNotRaised}},
		{name: "near-miss/max-pods-raised-to-110", state: healthyPrefix, want: nil},

		{name: "max-pods-too-high", golden: true, binding: CeilingNone, headroom: 16, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AllocatablePods, st.Kube.CapacityPods, st.Kubelet.MaxPods = 110, 110, 110
			return st
		}, want: []Cause{CauseMaxPodsExceedsIPCapacity}},
		{name: "near-miss/max-pods-at-secondary-value", state: healthySecondary, want: nil},

		// Prefix delegation with every warm target at zero: unsupported (docs/prefix-and-ip-target.md).
		{name: "warm-conflict", golden: true, state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AWSNodeEnv["WARM_PREFIX_TARGET"] = "0"
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "0"
			return st
		}, want: []Cause{CauseWarmTargetConflict}},
		{name: "warm-conflict-minimum-above-capacity", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "5"
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "40"
			return st
		}, want: []Cause{CauseWarmTargetConflict}},
		{name: "warm-conflict-no-warm-target-secondary", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_ENI_TARGET"] = "0"
			return st
		}, want: []Cause{CauseWarmTargetConflict}},
		// AWS's own configuration: the upstream manifest sets WARM_PREFIX_TARGET=1 and the IP
		// targets override it by design (getPrefixesNeeded, pkg/ipamd/ipamd.go v1.23.0). This
		// was reported as a conflict before.
		{name: "near-miss/prefix-with-ip-targets-and-warm-prefix-target", state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AWSNodeEnv["WARM_PREFIX_TARGET"] = "1"
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "5"
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "30"
			return st
		}, want: nil},
		{name: "near-miss/warm-ip-target-without-prefixes", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "5"
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "10"
			return st
		}, want: nil},
		// MINIMUM_IP_TARGET without WARM_IP_TARGET: the pool stops at the minimum (README,
		// MINIMUM_IP_TARGET point 2). It used to read "ip_pool_empty, no cause known".
		{name: "warm-pool-capped", golden: true, binding: CeilingWarmTarget, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "18"
			st.IPAMD.ENIs[0].Free, st.IPAMD.ENIs[0].Assigned = 0, 9
			st.IPAMD.ENIs[1].Free, st.IPAMD.ENIs[1].Assigned, st.IPAMD.ENIs[1].Cooldown = 0, 9, 0
			st.Kube.Pods, st.Kube.PendingSandboxPods = 22, 3
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			return st
		}, want: []Cause{CauseWarmPoolCapped}},
		// Heavy churn: every address the pool holds is assigned or cooling down while the node
		// has room for more ENIs; ipamd counts the cooling ones as available.
		{name: "ip-cooldown-starvation", golden: true, binding: CeilingWarmTarget, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "3"
			st.IPAMD.ENIs[0].Free, st.IPAMD.ENIs[0].Assigned = 0, 9
			st.IPAMD.ENIs[1].Free, st.IPAMD.ENIs[1].Assigned, st.IPAMD.ENIs[1].Cooldown = 0, 5, 4
			st.Kube.Pods, st.Kube.PendingSandboxPods = 18, 2
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			return st
		}, want: []Cause{CauseIPCooldownStarvation}},
		{name: "near-miss/cooldown-but-free-addresses", state: func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD.ENIs[1].Cooldown = 4
			logClass(st, logparse.IPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			return st
		}, want: []Cause{CauseIPPoolEmpty}},
		{name: "near-miss/minimum-with-warm-ip-target", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "18"
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "2"
			return st
		}, want: nil},

		{name: "warm-pool-hoarding", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			// m5.4xlarge: 8 ENIs x 30 IPv4, WARM_ENI_TARGET=1 keeps a whole ENI spare.
			st.Metadata.InstanceType, st.Kube.InstanceTypeLbl = "m5.4xlarge", "m5.4xlarge"
			st.CNI.ENIMax, st.CNI.IPMax = f64(8), f64(232)
			st.IPAMD.ENIs = []nodestate.ENI{
				secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 29, 6, 0),
				secondaryENI("eni-0aaa0000000000002", "subnet-node", 1, false, 29, 0, 0),
			}
			st.Kube.AllocatablePods, st.Kubelet.MaxPods, st.Kube.Pods = 234, 234, 8
			return st
		}, want: []Cause{CauseWarmPoolHoarding}},
		{name: "near-miss/idle-below-ratio", state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.ENIMax, st.CNI.IPMax = f64(8), f64(232)
			st.IPAMD.ENIs = []nodestate.ENI{
				secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 29, 29, 0),
				secondaryENI("eni-0aaa0000000000002", "subnet-node", 1, false, 29, 0, 0),
			}
			st.Kube.AllocatablePods, st.Kubelet.MaxPods, st.Kube.Pods = 234, 234, 31
			return st
		}, want: nil},

		{name: "custom-networking-stale", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIConfig = "eu-west-1a"
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: []Cause{CauseCustomNetworkingNotApplied}},
		{name: "custom-networking-secondary-eni-in-node-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIs[0].Assigned, st.IPAMD.ENIs[0].Free = 0, 9
			// A newer ENI in the ENIConfig's subnet proves that subnet differs from the node's.
			st.IPAMD.ENIs = append(st.IPAMD.ENIs, secondaryENI("eni-0aaa0000000000003", "subnet-pods", 2, false, 9, 1, 0))
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: []Cause{CauseCustomNetworkingNotApplied}},
		// An ENIConfig may name the node's own subnet: ENIs there prove nothing by themselves.
		{name: "near-miss/custom-networking-eniconfig-in-node-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIs[0].Assigned, st.IPAMD.ENIs[0].Free = 0, 9
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: nil},
		{name: "near-miss/custom-networking-applied", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIConfig = "eu-west-1a"
			st.IPAMD.ENIs = []nodestate.ENI{
				secondaryENI("eni-0aaa0000000000001", "subnet-node", 0, true, 0, 0, 0),
				secondaryENI("eni-0aaa0000000000002", "subnet-pods", 1, false, 9, 9, 0),
				secondaryENI("eni-0aaa0000000000003", "subnet-pods", 2, false, 9, 1, 0),
			}
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: nil},

		{name: "prefix-delegation-xen", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			st.Metadata.InstanceType, st.Kube.InstanceTypeLbl = "m4.large", "m4.large"
			st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = "true"
			st.Logs.LastHypervisor = HypervisorXen
			return st
		}, want: []Cause{CausePrefixDelegationUnsupported}},
		{name: "prefix-delegation-unsupported-inferred", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = "true"
			st.Logs.LastHypervisor = ""
			logClass(st, logparse.OtherError, "", "", `{"level":"warn","msg":"Prefix delegation is not supported on non-nitro instance m4.large, falling back to secondary IP mode"}`)
			return st
		}, want: []Cause{CausePrefixDelegationUnsupported}},
		{name: "near-miss/prefix-requested-secondaries-no-warning", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = "true"
			st.Logs.LastHypervisor = ""
			return st
		}, want: nil},

		{name: "ipamd-unreachable", golden: true, binding: CeilingIPAMD, headroom: -1, state: func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD = nil
			st.CNI = nil
			st.Sources[nodestate.SourceIPAMD] = nodestate.SourceStatus{Up: false, Err: "dial tcp 127.0.0.1:61679: connect: connection refused", LastSuccess: t0.Add(-10 * time.Minute)}
			st.Sources[nodestate.SourceCNIMetrics] = nodestate.SourceStatus{Up: false, Err: "dial tcp 127.0.0.1:61678: connect: connection refused"}
			return st
		}, want: []Cause{CauseIPAMDUnreachable}},
		{name: "near-miss/ipamd-absent-without-source-status", state: func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD = nil
			delete(st.Sources, nodestate.SourceIPAMD)
			return st
		}, want: nil},

		{name: "ipv6", golden: true, binding: CeilingNone, headroom: 98, state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AWSNodeEnv["ENABLE_IPv6"] = "true"
			st.Kube.AWSNodeEnv["ENABLE_IPv4"] = "false"
			st.IPAMD.ENIs = []nodestate.ENI{{ID: "eni-0aaa0000000000001", IsPrimary: true, SubnetID: "subnet-node", IPv6Prefixes: 1, Assigned: 38}}
			st.CNI.TotalIPv4Prefix = f64(0)
			st.Kube.Pods = 12
			return st
		}, want: []Cause{CauseIPv6Mode}},
		{name: "near-miss/ipv4-node-is-not-ipv6", state: healthyPrefix, want: nil},

		{name: "nil-state", state: func() *nodestate.State { return nil }, want: nil, binding: CeilingUnknown, headroom: -1},
		{name: "empty-state", state: func() *nodestate.State { return &nodestate.State{} }, want: nil, binding: CeilingUnknown, headroom: -1},
	}
}

func causesOf(r Report) []Cause {
	var out []Cause
	for _, f := range r.Findings {
		out = append(out, f.Cause)
	}
	return out
}

func TestDiagnoseScenarios(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := Diagnose(sc.state(), Options{Now: t0})
			if diff := cmp.Diff(sc.want, causesOf(r)); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
			for _, f := range r.Findings {
				if f.Severity != f.Cause.Severity() || f.Summary == "" || len(f.Evidence) == 0 || f.Fix == "" || f.Confirm == "" {
					t.Errorf("finding %s is incomplete: %+v", f.Cause, f)
				}
			}
			if sc.binding != "" {
				if r.BindingCeiling != sc.binding || r.Headroom != sc.headroom {
					t.Errorf("binding/headroom = %s/%d, want %s/%d (nearest %s, capacity %+v)", r.BindingCeiling, r.Headroom, sc.binding, sc.headroom, r.NearestCeiling, r.Capacity)
				}
			}
			if sc.golden {
				checkGolden(t, sc.name, r)
			}
		})
	}
}

// TestEveryCauseHasPositiveAndNegative keeps the scenario table honest as causes are added.
func TestEveryCauseHasPositiveAndNegative(t *testing.T) {
	t.Parallel()
	positive := map[Cause]bool{}
	nearMisses := 0
	for _, sc := range scenarios() {
		for _, c := range sc.want {
			positive[c] = true
		}
		if strings.HasPrefix(sc.name, "near-miss/") {
			nearMisses++
		}
	}
	for _, c := range Causes() {
		if !positive[c] {
			t.Errorf("no scenario produces cause %s", c)
		}
	}
	if nearMisses < len(Causes())-1 {
		t.Errorf("only %d near-miss scenarios for %d causes", nearMisses, len(Causes()))
	}
}

func TestHealthyNodesHaveNoProblems(t *testing.T) {
	t.Parallel()
	for name, st := range map[string]*nodestate.State{"secondary": healthySecondary(), "prefix": healthyPrefix()} {
		r := Diagnose(st, Options{})
		if r.HasProblems() {
			t.Errorf("%s: healthy node has findings: %v", name, causesOf(r))
		}
	}
}

func TestDiagnoseIsDeterministic(t *testing.T) {
	t.Parallel()
	build := func() *nodestate.State {
		st := healthySecondary()
		fillSecondary(st)
		st.Kube.AllocatablePods = 110
		st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
		st.CNI.APIErrorIncrease = map[string]float64{"RequestLimitExceeded": 1, codeUnauthorizedOperation: 1}
		logClass(st, logparse.IMDSFailure, "", "", "ec2imds failure")
		return st
	}
	first, err := json.Marshal(Diagnose(build(), Options{Now: t0}))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := json.Marshal(Diagnose(build(), Options{Now: t0}))
		if !bytes.Equal(first, again) {
			t.Fatalf("reports differ between runs:\n%s\n%s", first, again)
		}
	}
	r := Diagnose(build(), Options{Now: t0})
	for i := 1; i < len(r.Findings); i++ {
		a, b := r.Findings[i-1], r.Findings[i]
		if a.Severity.rank() > b.Severity.rank() || (a.Severity == b.Severity && a.Cause > b.Cause) {
			t.Errorf("findings out of order: %s/%s before %s/%s", a.Severity, a.Cause, b.Severity, b.Cause)
		}
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state func() *nodestate.State
		want  Capacity
	}{
		{"secondary", healthySecondary, Capacity{
			Mode: ModeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 18, MaxCapacity: 27, PodENIsMax: 3, KubeletMaxPods: 29, Pods: 12,
			HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
		{"prefix", healthyPrefix, Capacity{
			Mode: ModePrefix, ENIs: 1, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 3, HeldIPs: 48, AssignedIPs: 38,
			FreeIPs: 8, CooldownIPs: 2, AttachedCapacity: 144, MaxCapacity: 432, PodENIsMax: 3, KubeletMaxPods: 110, Pods: 40,
			HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
		{"custom networking and trunk take an ENI each", func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Kube.PodENICapacity = 9
			st.IPAMD.ENIs = append(st.IPAMD.ENIs, nodestate.ENI{ID: "eni-trunk", IsTrunk: true, DeviceNumber: 2})
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 3, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 9, MaxCapacity: 9, PodENIsMax: 1, TrunkSlotReserved: true, TrunkAttached: true, KubeletMaxPods: 29, Pods: 12,
			HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 9, BranchENIRequested: 0,
		}},
		{"metrics only: secondary mode inferred from no prefixes", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD, st.Kube, st.Kubelet = nil, nil, nil
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 8, CooldownIPs: -1, AttachedCapacity: 18, MaxCapacity: 27, PodENIsMax: 3, KubeletMaxPods: -1, Pods: -1,
			HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
		}},
		{"metrics without the prefix series: mode unknown, no guessing", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD, st.Kube, st.Kubelet = nil, nil, nil
			st.CNI.TotalIPv4Prefix = nil
			return st
		}, Capacity{
			Mode: ModeUnknown, ENIs: 2, MaxENIs: 3, SlotsPerENI: -1, Prefixes: -1, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 8, CooldownIPs: -1, AttachedCapacity: -1, MaxCapacity: -1, PodENIsMax: 3, KubeletMaxPods: -1, Pods: -1,
			HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
		}},
		// A bundle whose enis.json is unusable still has ipamd's env: the ENIs and addresses are
		// then unknown (or the CNI metrics' numbers), never zeros reported as facts.
		{"no datastore: the CNI metrics' numbers, not zeros", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD = &nodestate.IPAMD{Env: st.IPAMD.Env, ENIConfig: "default"}
			st.CNI.ENIAllocated = f64(1)
			st.Kube.FromAPI = false
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 1, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 8, CooldownIPs: -1, AttachedCapacity: 9, MaxCapacity: 27, PodENIsMax: 3, KubeletMaxPods: 29,
			Pods: -1, HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
		}},
		{"no datastore and no metrics: unknown", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD = &nodestate.IPAMD{Env: st.IPAMD.Env, ENIConfig: "default"}
			st.CNI, st.Kube = nil, nil
			return st
		}, Capacity{
			Mode: ModeUnknown, ENIs: -1, MaxENIs: -1, SlotsPerENI: -1, Prefixes: -1, HeldIPs: -1, AssignedIPs: -1,
			FreeIPs: -1, CooldownIPs: -1, AttachedCapacity: -1, MaxCapacity: -1, PodENIsMax: -1, KubeletMaxPods: 29,
			Pods: -1, HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
		}},
		{"trunk slot reserved before the trunk is attached", func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 18, MaxCapacity: 18, PodENIsMax: 2, TrunkSlotReserved: true,
			KubeletMaxPods: 29, Pods: 12, HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
		{"no trunk slot on a type that is not trunking-compatible", func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Metadata.InstanceType, st.Kube.InstanceTypeLbl = "t3.medium", "t3.medium"
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 18, MaxCapacity: 27, PodENIsMax: 3,
			KubeletMaxPods: 29, Pods: 12, HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
		{"ENIs excluded from pod IPs leave the capacity", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD.ENIs[1].IsExcluded = true
			return st
		}, Capacity{
			Mode: ModeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 9, MaxCapacity: 18, PodENIsMax: 2, ExcludedENIs: 1,
			KubeletMaxPods: 29, Pods: 12, HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Diagnose(tc.state(), Options{})
			if diff := cmp.Diff(tc.want, r.Capacity); diff != "" {
				t.Errorf("capacity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCausesAndCeilings(t *testing.T) {
	t.Parallel()
	want := []Cause{
		"subnet_exhausted", "prefix_fragmented", "eni_limit", "eni_quota", "ec2_throttled", "unauthorized",
		"aws_node_rbac_denied", "imds_failure", "ip_pool_empty", "branch_eni_exhausted", "max_pods_not_raised",
		"max_pods_exceeds_ip_capacity", "warm_target_conflict", "warm_pool_capped", "warm_pool_hoarding",
		"custom_networking_not_applied", "prefix_delegation_unsupported", "ipamd_unreachable", "ipv6_mode",
		"aws_node_not_ready", "custom_networking_misconfigured", "subnet_discovery_excluded", "ip_cooldown_starvation",
		"leaked_enis", "cni_unknown_instance_type",
	}
	if diff := cmp.Diff(want, Causes()); diff != "" {
		t.Errorf("causes (-want +got):\n%s", diff)
	}
	for _, c := range Causes() {
		if c.Severity().rank() > 2 {
			t.Errorf("cause %s has bad severity %q", c, c.Severity())
		}
	}
	if CauseIPv6Mode.Severity() != SeverityInfo || Cause("nope").Severity() != "" {
		t.Error("Cause.Severity is wrong")
	}
	wantCeilings := []Ceiling{"none", "max_pods", "eni", "subnet", "prefix_fragmentation", "throttling", "branch_eni", "iam", "instance_metadata", "warm_target", "eni_creation", "ipamd", "unknown"}
	if diff := cmp.Diff(wantCeilings, Ceilings()); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	// Every binding ceiling a scenario produces is in the list.
	known := map[Ceiling]bool{}
	for _, c := range Ceilings() {
		known[c] = true
	}
	for _, sc := range scenarios() {
		r := Diagnose(sc.state(), Options{Now: t0})
		if !known[r.BindingCeiling] || !known[r.NearestCeiling] {
			t.Errorf("%s: ceiling %q / %q not in Ceilings()", sc.name, r.BindingCeiling, r.NearestCeiling)
		}
	}
}

func checkGolden(t *testing.T, name string, r Report) {
	t.Helper()
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	for ext, got := range map[string][]byte{".txt": text.Bytes(), ".json": js} {
		testtools.Golden(t, filepath.Join("testdata", name+ext), got, *update)
	}
}

// logsOnly is what a pasted log excerpt gives: log classes and nothing else.
func logsOnly(classes map[logparse.Class]nodestate.ClassStats) *nodestate.State {
	st := &nodestate.State{Time: t0, Logs: &nodestate.LogSummary{Classes: map[string]nodestate.ClassStats{}}}
	for c, cs := range classes {
		st.Logs.Classes[c.String()] = cs
	}
	return st
}

// TestLogsOnlyFindings: with logs alone the classified lines still give findings, marked
// "logs only", and the report says what was missing; a class that proves nothing alone (the
// DEBUG ENI-limit line) gives none.
func TestLogsOnlyFindings(t *testing.T) {
	t.Parallel()
	at := nodestate.ClassStats{Total: 3, Last: t0.Add(-time.Minute), Example: "x"}
	with := func(code string) nodestate.ClassStats { cs := at; cs.Code = code; return cs }
	tests := []struct {
		name    string
		classes map[logparse.Class]nodestate.ClassStats
		want    []Cause
	}{
		{"AttachmentLimitExceeded", map[logparse.Class]nodestate.ClassStats{logparse.ENILimit: with(codeAttachmentLimitExceeded)}, []Cause{CauseENILimit}},
		{"the DEBUG limit line alone is routine", map[logparse.Class]nodestate.ClassStats{logparse.ENILimit: at}, nil},
		{"the limit line with pods failing", map[logparse.Class]nodestate.ClassStats{logparse.ENILimit: at, logparse.IPPoolEmpty: at}, []Cause{CauseENILimit}},
		{"UnauthorizedOperation", map[logparse.Class]nodestate.ClassStats{logparse.Unauthorized: with("UnauthorizedOperation")}, []Cause{CauseUnauthorized}},
		{"branch ENI", map[logparse.Class]nodestate.ClassStats{logparse.BranchENI: at}, []Cause{CauseBranchENIExhausted}},
		{"subnet", map[logparse.Class]nodestate.ClassStats{logparse.SubnetExhausted: with(codeInsufficientFreeAddresses)}, []Cause{CauseSubnetExhausted}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Diagnose(logsOnly(tc.classes), Options{})
			if diff := cmp.Diff(tc.want, causesOf(r)); diff != "" {
				t.Fatalf("causes (-want +got):\n%s", diff)
			}
			for _, f := range r.Findings {
				if f.Basis != BasisLogsOnly {
					t.Errorf("%s: basis %q, want logs only", f.Cause, f.Basis)
				}
				if f.Confirm == "" {
					t.Errorf("%s: no confirm step to settle it", f.Cause)
				}
			}
			var b bytes.Buffer
			if err := WriteText(&b, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "PARTIAL EVIDENCE without ipamd introspection, CNI metrics, Kubernetes") ||
				!strings.Contains(b.String(), "curl -s localhost:61679/v1/enis") {
				t.Errorf("the report does not say what was missing:\n%s", b.String())
			}
		})
	}
}
