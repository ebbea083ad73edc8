package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// simulate runs spec for the given seconds on a fake clock and returns the node.
func simulate(t *testing.T, spec demo.Spec, seconds int) *demo.Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	now := time.Date(2026, 11, 26, 2, 14, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	node, err := demo.Start(ctx, spec, t.TempDir(), demo.Options{Manual: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	for i := 0; i < seconds; i++ {
		now = now.Add(time.Second)
		node.Step(ctx, now)
	}
	return node
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// Every scenario's cause is found from a log-collector bundle of the simulated node, the way
// support would see it.
func TestDiagnoseBundlePerCause(t *testing.T) {
	t.Parallel()
	for _, spec := range demo.Scenarios() {
		if spec.Name == "large" {
			continue
		}
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			node := simulate(t, spec, 90)
			dir := t.TempDir()
			if err := node.WriteBundle(dir); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runCLI(t, "diagnose", "--bundle", dir, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep diagnosis.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			var got []string
			for _, f := range rep.Findings {
				got = append(got, string(f.Cause))
				if f.Summary == "" || f.Fix == "" || f.Confirm == "" || len(f.Evidence) == 0 {
					t.Errorf("finding %s lacks summary, evidence, fix or confirm: %+v", f.Cause, f)
				}
			}
			for _, want := range spec.Expect {
				if !slices.Contains(got, want) {
					t.Errorf("bundle diagnosis lacks %s; got %v", want, got)
				}
			}
			if spec.Name == "healthy" && rep.HasProblems() {
				t.Errorf("healthy bundle has problems: %v", got)
			}
			// The text report names the binding ceiling and each finding.
			code, text, _ := runCLI(t, "diagnose", "--bundle", dir)
			if code != 0 || !strings.Contains(text, "BINDING CEILING") {
				t.Errorf("text report (exit %d):\n%s", code, text)
			}
			for _, want := range spec.Expect {
				if !strings.Contains(text, want) {
					t.Errorf("text report lacks %s", want)
				}
			}
		})
	}
}

// Live mode: one pass against a running simulated node over real HTTP.
func TestDiagnoseLive(t *testing.T) {
	t.Parallel()
	spec, err := demo.Lookup("eni-limit")
	if err != nil {
		t.Fatal(err)
	}
	node := simulate(t, spec, 90)
	code, out, stderr := runCLI(t, "diagnose", "--format", "json",
		"--ipamd.address", node.IPAMDAddress, "--cni.metrics-url", node.CNIMetricsURL,
		"--imds.endpoint", node.IMDSEndpoint, "--log.ipamd", node.IPAMDLog, "--log.plugin", node.PluginLog,
		"--kubernetes", "off")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep diagnosis.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v", err)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || f.Cause == "eni_limit"
	}
	if !found {
		t.Errorf("live diagnosis lacks eni_limit: %+v", rep.Findings)
	}
	if rep.Node.InstanceType != "m5.large" {
		t.Errorf("node facts from IMDS missing: %+v", rep.Node)
	}
}

func TestDiagnoseErrors(t *testing.T) {
	t.Parallel()
	if code, _, _ := runCLI(t, "diagnose", "--format", "yaml"); code != 2 {
		t.Errorf("bad format: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "diagnose", "--bundle", t.TempDir()); code != 1 || !strings.Contains(stderr, "not an EKS log-collector bundle") {
		t.Errorf("empty bundle dir: exit %d %q", code, stderr)
	}
	// A node where nothing answers still gets a report (exit 0): the outage is the finding.
	code, out, _ := runCLI(t, "diagnose", "--format", "json", "--ipamd.address", "http://127.0.0.1:1",
		"--cni.metrics-url", "http://127.0.0.1:1/metrics", "--imds.disable", "--log.ipamd", "", "--log.plugin", "", "--kubernetes", "off")
	if code != 0 || !strings.Contains(out, "ipamd_unreachable") {
		t.Errorf("unreachable node: exit %d\n%s", code, out)
	}
}

// maxpods --live reads the node's ceilings from the CNI metrics (MAX_ENI=2 here) and the
// instance type from IMDS.
func TestMaxPodsLive(t *testing.T) {
	t.Parallel()
	spec, err := demo.Lookup("eni-limit")
	if err != nil {
		t.Fatal(err)
	}
	node := simulate(t, spec, 10)
	code, out, stderr := runCLI(t, "maxpods", "--live", "--format", "json", "--cni.metrics-url", node.CNIMetricsURL, "--imds.endpoint", node.IMDSEndpoint)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r diagnosis.MaxPodsResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// 2 ENIs x (10 - 1) + 2 = 20.
	if r.Input.ENIs != 2 || r.Input.IPsPerENI != 10 || r.Input.InstanceType != "m5.large" || r.MaxPods != 20 {
		t.Errorf("live maxpods = %+v", r)
	}
}

// Bundles for the causes no demo scenario produces: a simulated node's bundle, changed the way
// the failure would change it (log lines in the real format, the collector's curl error, ...).
func TestDiagnoseBundleMoreCauses(t *testing.T) {
	t.Parallel()
	healthy, err := demo.Lookup("healthy")
	if err != nil {
		t.Fatal(err)
	}
	large, err := demo.Lookup("large")
	if err != nil {
		t.Fatal(err)
	}
	// The simulated clock ends at 02:15:30; appended lines come just after.
	zap := func(level, msg string) string {
		b, _ := json.Marshal(msg)
		return `{"level":"` + level + `","ts":"2026-11-26T02:15:35.000Z","caller":"ipamd/ipamd.go:801","msg":` + string(b) + "}\n"
	}
	ec2 := func(op, code, text string) string {
		return zap("error", "Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: operation error EC2: "+op+
			", https response error StatusCode: 400, RequestID: 5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f, api error "+code+": "+text)
	}
	poolEmpty := zap("error", "AssignPodIPAddress: no available IP/Prefix addresses for pod shop/web-00042")
	hoard := large
	hoard.TargetPods = func(time.Duration) int { return 40 }
	hoard.Env = map[string]string{"WARM_ENI_TARGET": "3", "ENABLE_PREFIX_DELEGATION": "false", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false"}
	capped := healthy
	capped.Env = map[string]string{"WARM_ENI_TARGET": "1", "MINIMUM_IP_TARGET": "6", "ENABLE_PREFIX_DELEGATION": "false", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false"}
	custom := healthy
	custom.Env = map[string]string{"WARM_ENI_TARGET": "1", "ENABLE_PREFIX_DELEGATION": "false", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}
	churn := healthy
	churn.Env = map[string]string{"WARM_IP_TARGET": "3", "ENABLE_PREFIX_DELEGATION": "false", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false"}
	xen := healthy
	xen.InstanceType = "m4.large"
	xen.Env = map[string]string{"WARM_ENI_TARGET": "1", "ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}
	tests := []struct {
		name   string
		spec   demo.Spec
		append string            // lines added to ipamd.log
		plugin string            // lines added to plugin.log
		files  map[string]string // files replaced in the bundle
		want   string
	}{
		{"eni_quota", healthy, ec2("CreateNetworkInterface", "NetworkInterfaceLimitExceeded", "The maximum number of network interfaces has been reached.") + poolEmpty, "", nil, "eni_quota"},
		{"unauthorized", healthy, ec2("CreateNetworkInterface", "UnauthorizedOperation", "You are not authorized to perform this operation.") + poolEmpty, "", nil, "unauthorized"},
		{"imds_failure", healthy, zap("error", "Failed to retrieve interface-id from instance metadata: operation error ec2imds: GetMetadata, http response error StatusCode: 404, request to EC2 IMDS failed"), "", nil, "imds_failure"},
		{"ip_pool_empty", healthy, poolEmpty + poolEmpty, "", nil, "ip_pool_empty"},
		{"warm_pool_hoarding", hoard, "", "", nil, "warm_pool_hoarding"},
		{"prefix_delegation_unsupported", xen, zap("warn", "Prefix delegation is not supported on non-nitro instance m4.large hence falling back to default (secondary IP) mode"), "", nil, "prefix_delegation_unsupported"},
		{"ipamd_unreachable", healthy, "", "", map[string]string{"ipamd/enis.json": "curl: (7) Failed to connect to localhost port 61679 after 0 ms: Connection refused\n"}, "ipamd_unreachable"},
		// The six failures of issue 12, each from a real public line (logparse/testdata/real.txt
		// names the source of each).
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/1590: the plugin cannot dial ipamd.
		{"aws_node_not_ready", healthy, "", `{"level":"error","ts":"2026-11-26T02:15:35.000Z","caller":"routed-eni-cni-plugin/cni.go:240","msg":"Error received from AddNetwork gRPC call for container b85a01e25479: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing dial tcp 127.0.0.1:50051: connect: connection refused\""}` + "\n",
			map[string]string{"ipamd/enis.json": "curl: (7) Failed to connect to localhost port 61679 after 0 ms: Connection refused\n"}, "aws_node_not_ready"},
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/2683: the zone's ENIConfig does not exist.
		{"custom_networking_misconfigured", custom, zap("error", `error while retrieving eniconfig: ENIConfig.crd.k8s.amazonaws.com "us-east-1c" not found`), "", nil, "custom_networking_misconfigured"},
		// amazon-vpc-cni-k8s v1.23.0 pkg/awsutils/awsutils.go (no public line found).
		{"subnet_discovery_excluded", healthy, zap("error", "Failed to increase pool size due to not able to allocate ENI AllocENI: error creating network interface: no valid subnets available for ENI creation - all subnets are either not tagged or tagged with kubernetes.io/role/cni=0") + poolEmpty, "", nil, "subnet_discovery_excluded"},
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/533: CNI v1.5 on m5.metal.
		{"cni_unknown_instance_type", healthy, "2026-11-26T02:15:35Z [ERROR] Failed to get eni limit due to unknown instance type m5.metal\n", "", nil, "cni_unknown_instance_type"},
		// README, MINIMUM_IP_TARGET point 2: the pool stops at the minimum.
		{"warm_pool_capped", capped, poolEmpty + poolEmpty, "", nil, "warm_pool_capped"},
		// Heavy churn: five addresses assigned, four released 10 s before collection (in the
		// 30 s cooldown), none free, two more ENIs allowed: ipamd counts the cooling ones as
		// available (AvailableAddresses in pkg/ipamd/datastore/data_store.go v1.23.0).
		{"ip_cooldown_starvation", churn, poolEmpty + poolEmpty, "", map[string]string{"ipamd/enis.json": cooldownENIs(t)}, "ip_cooldown_starvation"},
		// https://github.com/aws/amazon-vpc-cni-k8s/issues/104 (RBAC, not IAM).
		{"aws_node_rbac_denied", healthy, zap("error", `Failed to get pod: pods "web-0" is forbidden: User "system:serviceaccount:kube-system:aws-node" cannot get resource "pods" in API group "" in the namespace "default"`), "", nil, "aws_node_rbac_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			node := simulate(t, tc.spec, 90)
			dir := t.TempDir()
			if err := node.WriteBundle(dir); err != nil {
				t.Fatal(err)
			}
			if tc.append != "" {
				f, err := os.OpenFile(filepath.Join(dir, "var_log", "aws-routed-eni", "ipamd.log"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(tc.append); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			if tc.plugin != "" {
				f, err := os.OpenFile(filepath.Join(dir, "var_log", "aws-routed-eni", "plugin.log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(tc.plugin); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, stderr := runCLI(t, "diagnose", "--bundle", dir, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep diagnosis.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				got = append(got, string(f.Cause))
			}
			if !slices.Contains(got, tc.want) {
				t.Errorf("bundle diagnosis lacks %s; got %v", tc.want, got)
			}
			// A node at its ENI limit with free addresses left is not bound by its ENIs,
			// whatever transient pool-empty lines say.
			if tc.name == "ip_pool_empty" && slices.Contains(got, "eni_limit") {
				t.Errorf("eni_limit with free addresses on the node: %v", got)
			}
		})
	}
}

// cooldownENIs is a v1.20+ /v1/enis answer: one ENI with nine /32s, five assigned and four
// released at 02:15:25, ten seconds before the bundle's newest log line.
func cooldownENIs(t *testing.T) string {
	t.Helper()
	type m = map[string]any
	cidrs := m{}
	for i := 10; i < 19; i++ {
		ip := fmt.Sprintf("10.20.33.%d", i)
		info := m{"Address": ip, "IPAMKey": m{}, "IPAMMetadata": m{}, "AssignedTime": "0001-01-01T00:00:00Z", "UnassignedTime": "2026-11-26T02:15:25Z"}
		if i < 15 {
			info = m{"Address": ip, "IPAMKey": m{"networkName": "aws-cni"}, "IPAMMetadata": m{"k8sPodNamespace": "shop", "k8sPodName": fmt.Sprintf("web-%d", i)},
				"AssignedTime": "2026-11-26T02:10:00Z", "UnassignedTime": "0001-01-01T00:00:00Z"}
		}
		cidrs[ip+"/32"] = m{"Cidr": m{"IP": ip, "Mask": "/////w=="}, "IPAddresses": m{ip: info}, "IsPrefix": false, "AddressFamily": ""}
	}
	doc := m{"0": m{"TotalIPs": 9, "AssignedIPs": 5, "ENIs": m{"eni-0a1b2c3d4e5f60001": m{
		"ID": "eni-0a1b2c3d4e5f60001", "IsPrimary": true, "DeviceNumber": 0, "AvailableIPv4Cidrs": cidrs,
		"IPv6Cidrs": m{}, "SubnetID": "subnet-0c9d8e7f6a5b40312",
	}}}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
