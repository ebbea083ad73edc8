package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// fakeTypes stands in for EC2 DescribeInstanceTypes with values from the EC2 documentation.
var fakeTypes = []instanceTypeLimits{
	{InstanceType: "t3.medium", ENIs: 3, IPv4PerENI: 6, VCPUs: 2, Hypervisor: "nitro"},
	{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, VCPUs: 2, Hypervisor: "nitro"},
	{InstanceType: "m5.xlarge", ENIs: 4, IPv4PerENI: 15, VCPUs: 4, Hypervisor: "nitro"},
	{InstanceType: "m4.large", ENIs: 2, IPv4PerENI: 10, VCPUs: 2, Hypervisor: "xen"},
	{InstanceType: "m5.metal", ENIs: 15, IPv4PerENI: 50, VCPUs: 96, BareMetal: true},
}

func fakeLookup(calls *[][]string) instanceLookup {
	return func(_ context.Context, _ ec2LookupOptions, types []string) ([]instanceTypeLimits, error) {
		*calls = append(*calls, types)
		if len(types) == 0 {
			return append([]instanceTypeLimits(nil), fakeTypes...), nil
		}
		var out []instanceTypeLimits
		for _, l := range fakeTypes {
			for _, t := range types {
				if l.InstanceType == t {
					out = append(out, l)
				}
			}
		}
		return out, nil
	}
}

func runMaxPodsTest(t *testing.T, lookup instanceLookup, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runMaxPods(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errOut}, lookup)
	return code, out.String(), errOut.String()
}

func TestMaxPodsExplicitText(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, out, errOut := runMaxPodsTest(t, fakeLookup(&calls), "--enis", "3", "--ips-per-eni", "10", "--vcpus", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := `instance: 3 ENIs x 10 IPv4 addresses, 2 vCPUs, nitro
mode: secondary IPs (one /32 per slot)
  pod IPs = 3 ENIs x (10 - 1) secondary IPs = 27
  max-pods = 27 + 2 host-network pods = 29
  below the EKS max-pods calculator's cap 110 (2 vCPUs <= 30): no cap
max-pods: 29
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if len(calls) != 0 {
		t.Errorf("explicit limits must not call EC2, got %v", calls)
	}
}

func TestMaxPodsExplicitJSON(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, out, errOut := runMaxPodsTest(t, fakeLookup(&calls), "--enis=3", "--ips-per-eni=10", "--vcpus=2", "--prefix-delegation", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r diagnosis.MaxPodsResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	if r.MaxPods != 110 || r.Uncapped != 434 || r.Mode != "prefix" || r.Recommended != 110 {
		t.Errorf("got %+v, want max-pods 110 of 434 in prefix mode", r)
	}
}

func TestMaxPodsInstanceTypes(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, out, errOut := runMaxPodsTest(t, fakeLookup(&calls), "--instance-type", "t3.medium, m5.xlarge,m5.large", "--format", "json", "--region", "eu-west-1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var rs []diagnosis.MaxPodsResult
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	got := map[string]int{}
	var order []string
	for _, r := range rs {
		got[r.Input.InstanceType] = r.MaxPods
		order = append(order, r.Input.InstanceType)
	}
	if diff := cmp.Diff(map[string]int{"m5.large": 29, "t3.medium": 17, "m5.xlarge": 58}, got); diff != "" {
		t.Errorf("max-pods (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"m5.large", "m5.xlarge", "t3.medium"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"t3.medium", "m5.xlarge", "m5.large"}}, calls); diff != "" {
		t.Errorf("lookup calls (-want +got):\n%s", diff)
	}
}

func TestMaxPodsXenTypeRefusesPrefixes(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, out, _ := runMaxPodsTest(t, fakeLookup(&calls), "--instance-type", "m4.large", "--prefix-delegation")
	if code != 0 || !strings.Contains(out, "max-pods: 20\n") || !strings.Contains(out, "needs a Nitro instance") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestMaxPodsAllTable(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, out, errOut := runMaxPodsTest(t, fakeLookup(&calls), "--all", "--prefix-delegation", "--custom-networking", "--security-groups-for-pods")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(fakeTypes) {
		t.Fatalf("want a header and %d rows, got:\n%s", len(fakeTypes), out)
	}
	want := map[string][]string{
		// m4.large and t3.medium are not trunking-compatible (VPC resource controller limits):
		// ipamd reserves no trunk slot there, so only the primary ENI goes. m4.large is Xen:
		// secondary IPs, 1 ENI x 9 + 2 = 11.
		"m4.large":  {"m4.large", "2", "10", "2", "xen", "secondary_ip", "9", "11"},
		"m5.large":  {"m5.large", "3", "10", "2", "nitro", "prefix", "144", "110"},
		"m5.metal":  {"m5.metal", "15", "50", "96", "nitro", "prefix", "10192", "250"},
		"m5.xlarge": {"m5.xlarge", "4", "15", "4", "nitro", "prefix", "448", "110"},
		"t3.medium": {"t3.medium", "3", "6", "2", "nitro", "prefix", "160", "110"},
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if diff := cmp.Diff(want[f[0]], f); diff != "" {
			t.Errorf("row %s (-want +got):\n%s", f[0], diff)
		}
	}
	if diff := cmp.Diff([][]string{nil}, calls); diff != "" {
		t.Errorf("--all must ask for every type (-want +got):\n%s", diff)
	}
}

func TestMaxPodsAllJSONMarksErrors(t *testing.T) {
	t.Parallel()
	var calls [][]string
	// MAX_ENI=2 with custom networking and a trunk leaves no ENI for pods on the
	// trunking-compatible types; the others keep one.
	code, out, _ := runMaxPodsTest(t, fakeLookup(&calls), "--all", "--custom-networking", "--security-groups-for-pods", "--max-enis", "2", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rows []maxPodsRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, r := range rows {
		if r.Error != "" {
			failed = append(failed, r.Input.InstanceType)
			if !strings.Contains(r.Error, "no ENI is left") {
				t.Errorf("unexpected error row %+v", r)
			}
		}
	}
	if diff := cmp.Diff([]string{"m5.large", "m5.metal", "m5.xlarge"}, failed); diff != "" {
		t.Errorf("error rows (-want +got):\n%s", diff)
	}
}

func TestMaxPodsFailures(t *testing.T) {
	t.Parallel()
	failing := func(context.Context, ec2LookupOptions, []string) ([]instanceTypeLimits, error) {
		return nil, errors.New("operation error EC2: DescribeInstanceTypes, no credentials")
	}
	var calls [][]string
	tests := []struct {
		name     string
		lookup   instanceLookup
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no source", fakeLookup(&calls), nil, 2, "say which instance"},
		{"two sources", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "--instance-type", "m5.large"}, 2, "choose one"},
		{"ips missing", fakeLookup(&calls), []string{"--enis", "3"}, 2, "both needed"},
		{"bad format", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "--format", "yaml"}, 2, "text or json"},
		{"region without lookup", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "--region", "eu-west-1"}, 2, "apply to --instance-type"},
		{"branch without sgp", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "--branch-enis", "9"}, 2, "add --security-groups-for-pods"},
		{"negative max enis", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "--max-enis", "-1"}, 2, "must not be negative"},
		{"stray argument", fakeLookup(&calls), []string{"--enis", "3", "--ips-per-eni", "10", "m5.large"}, 2, "unexpected arguments"},
		{"not a number", fakeLookup(&calls), []string{"--enis", "three", "--ips-per-eni", "10"}, 2, "invalid value"},
		{"arithmetic refuses", fakeLookup(&calls), []string{"--enis", "0", "--ips-per-eni", "10"}, 2, "ENIs must be at least 1"},
		{"unknown type", fakeLookup(&calls), []string{"--instance-type", "m5.large,x9.huge"}, 1, "does not know x9.huge"},
		{"lookup fails", failing, []string{"--instance-type", "m5.large"}, 1, "no credentials"},
		{"live without aws-node", fakeLookup(&calls), []string{"--live", "--cni.metrics-url", "http://127.0.0.1:1/metrics", "--imds.endpoint", "http://127.0.0.1:1"}, 1, "reading the CNI metrics"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMaxPodsTest(t, tc.lookup, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.wantCode, tc.wantErr)
			}
			if out != "" {
				t.Errorf("nothing may reach stdout on failure, got %q", out)
			}
		})
	}
}

func TestMaxPodsHelp(t *testing.T) {
	t.Parallel()
	var calls [][]string
	code, _, errOut := runMaxPodsTest(t, fakeLookup(&calls), "-h")
	if code != 0 || !strings.Contains(errOut, "--prefix-delegation") && !strings.Contains(errOut, "-prefix-delegation") {
		t.Errorf("exit %d, help %q", code, errOut)
	}
}
