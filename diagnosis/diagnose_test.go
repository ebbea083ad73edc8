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
	"github.com/ipamwatch/ipamwatch/nodestate"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata")

type scenario struct {
	name  string
	state func() *nodestate.State
	// want is the exact set of finding causes, in report order.
	want []string
	// binding and headroom are checked when binding is not empty.
	binding  string
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
			logClass(st, classSubnetExhausted, codeInsufficientFreeAddresses, "subnet-node",
				`{"level":"error","ts":"2026-11-26T02:13:00.000Z","msg":"Failed to increase pool size due to not able to allocate ENI AllocENI: error creating network interface: operation error EC2: CreateNetworkInterface, https response error StatusCode: 400, api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses to satisfy the request."}`)
			logClass(st, classIPPoolEmpty, "", "", `{"level":"error","msg":"AssignPodIPAddress: no available IP/Prefix addresses"}`)
			return st
		}, want: []string{CauseSubnetExhausted}},
		{name: "subnet-exhausted-from-cni-total-one-shot", state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = nil
			st.CNI.APIErrorTotal = map[string]float64{codeInsufficientFreeAddresses: 4}
			return st
		}, want: []string{CauseSubnetExhausted}},
		{name: "near-miss/subnet-errors-old-in-agent", state: func() *nodestate.State {
			st := healthySecondary()
			// Cumulative errors from long ago, none since the last poll and none in the window.
			st.CNI.APIErrorTotal = map[string]float64{codeInsufficientFreeAddresses: 4}
			st.Logs.Classes[classSubnetExhausted] = nodestate.ClassStats{Total: 4, Recent: 0, Last: t0.Add(-5 * time.Hour)}
			return st
		}, want: nil},
		{name: "prefix-fragmented", golden: true, binding: CeilingPrefixFragmentation, headroom: 8, state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, classPrefixFragmented, codeInsufficientCidrBlocks, "subnet-node",
				`{"level":"error","msg":"Failed to allocate a private IP/Prefix addresses on ENI eni-0aaa0000000000001: operation error EC2: AssignPrivateIpAddresses, https response error StatusCode: 400, api error InsufficientCidrBlocks: There are not enough free cidr blocks in the specified subnet to satisfy the request."}`)
			st.CNI.APIErrorIncrease = map[string]float64{codeInsufficientCidrBlocks: 2}
			return st
		}, want: []string{CausePrefixFragmented}},
		{name: "near-miss/both-codes-means-subnet-full", state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, classPrefixFragmented, codeInsufficientCidrBlocks, "subnet-node", "InsufficientCidrBlocks")
			st.CNI.APIErrorIncrease = map[string]float64{codeInsufficientCidrBlocks: 2, codeInsufficientFreeAddresses: 1}
			return st
		}, want: []string{CauseSubnetExhausted}},
		{name: "follow-up-line-with-cidr-code-is-fragmentation", state: func() *nodestate.State {
			st := healthyPrefix()
			logClass(st, classSubnetExhausted, codeInsufficientCidrBlocks, "subnet-node",
				"Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation")
			return st
		}, want: []string{CausePrefixFragmented}},

		// ENI limit
		{name: "eni-limit", golden: true, binding: CeilingENI, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			logClass(st, classENILimit, "", "", `{"level":"debug","msg":"Skipping ENI allocation as the max ENI limit is already reached"}`)
			logClass(st, classIPPoolEmpty, "", "", `{"level":"error","msg":"AssignPodIPAddress: no available IP/Prefix addresses"}`)
			return st
		}, want: []string{CauseENILimit}},
		{name: "eni-limit-without-debug-line", state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			return st
		}, want: []string{CauseENILimit}},
		{name: "near-miss/at-eni-limit-with-free-ips", state: func() *nodestate.State {
			st := healthySecondary()
			fillSecondary(st)
			st.IPAMD.ENIs[2].Assigned, st.IPAMD.ENIs[2].Cooldown, st.IPAMD.ENIs[2].Free = 4, 0, 5
			st.Kube.Pods, st.Kube.PendingSandboxPods = 24, 0
			logClass(st, classENILimit, "", "", "Skipping ENI allocation as the max ENI limit is already reached")
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
			logClass(st, classENIQuota, "NetworkInterfaceLimitExceeded", "", "api error NetworkInterfaceLimitExceeded: The maximum number of network interfaces has been reached.")
			return st
		}, want: []string{CauseENIQuota}, binding: CeilingENI, headroom: 7},
		{name: "near-miss/other-error-is-not-quota", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, classOtherError, "", "", "Failed to get ENI eni-1 information from EC2 control plane")
			return st
		}, want: nil},

		{name: "throttled", golden: true, binding: CeilingThrottling, headroom: 7, state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = map[string]float64{"RequestLimitExceeded": 3}
			return st
		}, want: []string{CauseEC2Throttled}},
		{name: "near-miss/throttle-count-without-increase", state: func() *nodestate.State {
			st := healthySecondary()
			st.CNI.APIErrorIncrease = map[string]float64{"RequestLimitExceeded": 0}
			st.CNI.APIErrorTotal = map[string]float64{"RequestLimitExceeded": 12}
			return st
		}, want: nil},

		{name: "unauthorized", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, classUnauthorized, codeUnauthorizedOperation, "", "api error UnauthorizedOperation: You are not authorized to perform this operation.")
			return st
		}, want: []string{CauseUnauthorized}, binding: CeilingUnauthorized, headroom: 7},
		{name: "near-miss/unauthorized-outside-window", state: func() *nodestate.State {
			st := healthySecondary()
			st.Logs.Classes[classUnauthorized] = nodestate.ClassStats{Total: 2, Recent: 0, Last: t0.Add(-3 * time.Hour)}
			return st
		}, want: nil},

		{name: "imds-failure", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, classIMDS, "", "", "Unable to discover attached ENI from metadata service")
			return st
		}, want: []string{CauseIMDSFailure}},
		{name: "near-miss/ipamwatch-own-imds-down", state: func() *nodestate.State {
			st := healthySecondary()
			st.Metadata = nil
			st.Sources[nodestate.SourceIMDS] = nodestate.SourceStatus{Up: false, Err: "context deadline exceeded"}
			return st
		}, want: nil},

		{name: "ip-pool-empty", golden: true, state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, classIPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			st.CNI.NoAvailableIPIncrease = 3
			return st
		}, want: []string{CauseIPPoolEmpty}},
		{name: "near-miss/pool-empty-explained-by-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			logClass(st, classIPPoolEmpty, "", "", "AssignPodIPAddress: no available IP/Prefix addresses")
			logClass(st, classSubnetExhausted, codeInsufficientFreeAddresses, "subnet-node", "InsufficientFreeAddressesInSubnet")
			return st
		}, want: []string{CauseSubnetExhausted}},

		{name: "branch-eni", golden: true, binding: CeilingBranchENI, headroom: 0, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_POD_ENI"] = "true"
			st.Kube.PodENICapacity, st.Kube.PodENIRequests, st.Kube.PendingSandboxPods = 9, 9, 2
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			st.IPAMD.ENIs = append(st.IPAMD.ENIs, nodestate.ENI{ID: "eni-0aaa0000000000009", DeviceNumber: 2, SubnetID: "subnet-node", IsTrunk: true})
			logClass(st, classBranchENI, "", "", "failed to get Branch ENI resource")
			return st
		}, want: []string{CauseBranchENIExhausted}},
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
		}, want: []string{CauseMaxPodsNotRaised}},
		{name: "near-miss/max-pods-raised-to-110", state: healthyPrefix, want: nil},

		{name: "max-pods-too-high", golden: true, binding: CeilingNone, headroom: 16, state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AllocatablePods, st.Kube.CapacityPods, st.Kubelet.MaxPods = 110, 110, 110
			return st
		}, want: []string{CauseMaxPodsExceedsIPCapacity}},
		{name: "near-miss/max-pods-at-secondary-value", state: healthySecondary, want: nil},

		{name: "warm-conflict", golden: true, state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "5"
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "30"
			return st
		}, want: []string{CauseWarmTargetConflict}},
		{name: "warm-conflict-zero-targets-with-prefixes", state: func() *nodestate.State {
			st := healthyPrefix()
			st.Kube.AWSNodeEnv["WARM_PREFIX_TARGET"] = "0"
			return st
		}, want: []string{CauseWarmTargetConflict}},
		{name: "warm-conflict-no-warm-target-secondary", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_ENI_TARGET"] = "0"
			return st
		}, want: []string{CauseWarmTargetConflict}},
		{name: "near-miss/warm-ip-target-without-prefixes", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = "5"
			st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = "10"
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
		}, want: []string{CauseWarmPoolHoarding}},
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
		}, want: []string{CauseCustomNetworkingNotApplied}},
		{name: "custom-networking-secondary-eni-in-node-subnet", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
			st.IPAMD.ENIs[0].Assigned, st.IPAMD.ENIs[0].Free = 0, 9
			st.Kube.AllocatablePods, st.Kubelet.MaxPods = 20, 20
			return st
		}, want: []string{CauseCustomNetworkingNotApplied}},
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
		}, want: []string{CausePrefixDelegationUnsupported}},
		{name: "prefix-delegation-unsupported-inferred", state: func() *nodestate.State {
			st := healthySecondary()
			st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = "true"
			st.Logs.LastHypervisor = ""
			logClass(st, classOtherError, "", "", `{"level":"warn","msg":"Prefix delegation is not supported on non-nitro instance m4.large, falling back to secondary IP mode"}`)
			return st
		}, want: []string{CausePrefixDelegationUnsupported}},
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
		}, want: []string{CauseIPAMDUnreachable}},
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
		}, want: []string{CauseIPv6Mode}},
		{name: "near-miss/ipv4-node-is-not-ipv6", state: healthyPrefix, want: nil},

		{name: "nil-state", state: func() *nodestate.State { return nil }, want: nil, binding: CeilingUnknown, headroom: -1},
		{name: "empty-state", state: func() *nodestate.State { return &nodestate.State{} }, want: nil, binding: CeilingUnknown, headroom: -1},
	}
}

func causesOf(r Report) []string {
	var out []string
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
				if f.Severity != SeverityOf(f.Cause) || f.Summary == "" || len(f.Evidence) == 0 || f.Fix == "" || f.Confirm == "" {
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
	positive := map[string]bool{}
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
		if !positive[c.Name] {
			t.Errorf("no scenario produces cause %s", c.Name)
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
		logClass(st, classIMDS, "", "", "ec2imds failure")
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
		if severityRank(a.Severity) > severityRank(b.Severity) || (a.Severity == b.Severity && a.Cause > b.Cause) {
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
			Mode: modeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 18, MaxCapacity: 27, KubeletMaxPods: 29, Pods: 12,
			HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 0, BranchENIRequested: 0,
		}},
		{"prefix", healthyPrefix, Capacity{
			Mode: modePrefix, ENIs: 1, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 3, HeldIPs: 48, AssignedIPs: 38,
			FreeIPs: 8, CooldownIPs: 2, AttachedCapacity: 144, MaxCapacity: 432, KubeletMaxPods: 110, Pods: 40,
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
			Mode: modeSecondary, ENIs: 3, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 7, CooldownIPs: 1, AttachedCapacity: 9, MaxCapacity: 9, KubeletMaxPods: 29, Pods: 12,
			HostNetworkPods: 2, PendingPods: 0, BranchENICapacity: 9, BranchENIRequested: 0,
		}},
		{"metrics only: secondary mode inferred from no prefixes", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD, st.Kube, st.Kubelet = nil, nil, nil
			return st
		}, Capacity{
			Mode: modeSecondary, ENIs: 2, MaxENIs: 3, SlotsPerENI: 9, Prefixes: 0, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 8, CooldownIPs: -1, AttachedCapacity: 18, MaxCapacity: 27, KubeletMaxPods: -1, Pods: -1,
			HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
		}},
		{"metrics without the prefix series: mode unknown, no guessing", func() *nodestate.State {
			st := healthySecondary()
			st.IPAMD, st.Kube, st.Kubelet = nil, nil, nil
			st.CNI.TotalIPv4Prefix = nil
			return st
		}, Capacity{
			Mode: modeUnknown, ENIs: 2, MaxENIs: 3, SlotsPerENI: -1, Prefixes: -1, HeldIPs: 18, AssignedIPs: 10,
			FreeIPs: 8, CooldownIPs: -1, AttachedCapacity: -1, MaxCapacity: -1, KubeletMaxPods: -1, Pods: -1,
			HostNetworkPods: -1, PendingPods: -1, BranchENICapacity: -1, BranchENIRequested: -1,
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
	want := []string{
		"subnet_exhausted", "prefix_fragmented", "eni_limit", "eni_quota", "ec2_throttled", "unauthorized",
		"imds_failure", "ip_pool_empty", "branch_eni_exhausted", "max_pods_not_raised",
		"max_pods_exceeds_ip_capacity", "warm_target_conflict", "warm_pool_hoarding",
		"custom_networking_not_applied", "prefix_delegation_unsupported", "ipamd_unreachable", "ipv6_mode",
	}
	var got []string
	for _, c := range Causes() {
		got = append(got, c.Name)
		if severityRank(c.Severity) > 2 {
			t.Errorf("cause %s has bad severity %q", c.Name, c.Severity)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("causes (-want +got):\n%s", diff)
	}
	if SeverityOf(CauseIPv6Mode) != SeverityInfo || SeverityOf("nope") != "" {
		t.Error("SeverityOf is wrong")
	}
	wantCeilings := []string{"none", "max_pods", "eni", "subnet", "prefix_fragmentation", "throttling", "branch_eni", "unauthorized", "imds", "ipamd", "unknown"}
	if diff := cmp.Diff(wantCeilings, Ceilings()); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	// Every binding ceiling a scenario produces is in the list.
	known := map[string]bool{}
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
