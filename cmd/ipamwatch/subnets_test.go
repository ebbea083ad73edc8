//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/subnets"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// fakeAWSEnv points the SDK's default chain at static test credentials and away from any
// shared config or instance metadata of the machine. t.Setenv: these tests are not parallel.
func fakeAWSEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
}

func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(ctx, args, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestSubnetsOnceText(t *testing.T) {
	fakeAWSEnv(t)
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	code, out, errs := runCmd(t.Context(), "subnets", "--once", "--cluster-name", "prod", "--region", "us-west-2", "--ec2-endpoint", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	for _, want := range []string{
		"subnet-a  us-west-2a  10.0.0.0/24  vpc-1",
		"10.0.0.0        A++PP.+..+rrR..A",
		"free /28 blocks 7",
		"subnet-b  us-west-2b",
		"verdict: fragmented",
		"i-node2  ENIs eni-b2: frees 2 /28 block(s), holds 2 address(es) in them",
		"skipped: IPv6-only subnet",
		"leaked CNI ENIs 1 holding 2 address(es)",
		"eni-c3  created for i-gone  2 address(es)",
		"10.2.252.0      " + strings.Repeat(".", 54) + "+" + strings.Repeat(".", 8) + "A",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "subnet-x") || strings.Contains(out, "subnet-y") {
		t.Errorf("report includes subnets outside the cluster:\n%s", out)
	}
	if t.Failed() {
		t.Logf("report:\n%s", out)
	}
}

func TestSubnetsOnceJSON(t *testing.T) {
	fakeAWSEnv(t)
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	code, out, errs := runCmd(t.Context(), "subnets", "--once", "--format", "json", "--subnet-ids", "subnet-c,subnet-v6",
		"--region", "us-west-2", "--ec2-endpoint", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	var rep subnets.JSONReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(rep.Subnets) != 2 {
		t.Fatalf("subnets = %d, want 2", len(rep.Subnets))
	}
	c, v6 := rep.Subnets[0], rep.Subnets[1]
	// eni-c3, left behind by the CNI, takes one more /28 block and is reported as leaked.
	if c.SubnetID != "subnet-c" || c.Size != 65536 || c.FreePrefixBlocks != 4089 || c.LargestFreeBlock != 16384 || len(c.BlockMap) != 4096 || c.Verdict != "ok" {
		t.Errorf("subnet-c = %+v", c)
	}
	if c.LeakedENICount != 1 || c.LeakedAddresses != 2 || len(c.LeakedENIs) != 1 || c.LeakedENIs[0].ID != "eni-c3" || c.LeakedENIs[0].InstanceID != "i-gone" {
		t.Errorf("subnet-c leaked ENIs = %d (%d addresses) %+v, want eni-c3 created for i-gone", c.LeakedENICount, c.LeakedAddresses, c.LeakedENIs)
	}
	if v6.SubnetID != "subnet-v6" || !strings.Contains(v6.Skipped, "IPv6-only") || v6.BlockMap != "" {
		t.Errorf("subnet-v6 = %+v", v6)
	}
}

func TestSubnetsFlagErrors(t *testing.T) {
	fakeAWSEnv(t)
	for _, args := range [][]string{
		{"subnets", "--once"},
		{"subnets", "--once", "--cluster-name", "prod", "--format", "yaml"},
		{"subnets", "--cluster-name", "prod", "--poll-interval", "1s"},
		{"subnets", "--cluster-name", "prod", "--poll-jitter", "1.5"},
		{"subnets", "--subnet-ids", "vpc-123", "--once"},
		{"subnets", "--cluster-name", "prod", "extra"},
	} {
		code, _, errs := runCmd(t.Context(), args...)
		if code != 2 || !strings.Contains(errs, "ipamwatch subnets:") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	if code, _, _ := runCmd(t.Context(), "subnets", "-h"); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func TestSubnetsOnceEC2Failure(t *testing.T) {
	fakeAWSEnv(t)
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	srv.Throttle("DescribeSubnets", 1000)
	code, _, errs := runCmd(t.Context(), "subnets", "--once", "--cluster-name", "prod", "--region", "us-west-2",
		"--ec2-endpoint", srv.URL, "--ec2-max-attempts", "2")
	if code != 1 || !strings.Contains(errs, "RequestLimitExceeded") {
		t.Errorf("exit %d, stderr %q; want 1 and RequestLimitExceeded", code, errs)
	}
	if n := srv.Calls("DescribeSubnets"); n != 2 {
		t.Errorf("DescribeSubnets calls = %d, want 2 (--ec2-max-attempts)", n)
	}
}

func TestSubnetsServeWithoutLeaderElection(t *testing.T) {
	fakeAWSEnv(t)
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	addr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- dispatch(ctx, []string{"subnets", "--cluster-name", "prod", "--region", "us-west-2", "--ec2-endpoint", srv.URL,
			"--leader-elect=false", "--web.listen-address", addr, "--poll-interval", "10m"},
			streams{in: strings.NewReader(""), out: io.Discard, err: &stderr})
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := `ipamwatch_subnet_free_prefix_blocks{availability_zone="us-west-2a",subnet_id="subnet-a"} 7`
	deadline := time.Now().Add(30 * time.Second) // a guard against hanging, not a timing assertion
	var body string
	for {
		var code int
		code, body = get("/metrics")
		if code == http.StatusOK && strings.Contains(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on /metrics; last body:\n%s\nstderr:\n%s", want, body, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range []string{"ipamwatch_subnet_leader 1", `ipamwatch_subnet_analyzed{availability_zone="us-west-2a",subnet_id="subnet-v6"} 0`, "go_goroutines"} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, b := get(p); code != http.StatusOK {
			t.Errorf("%s = %d %q", p, code, b)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after cancel, stderr:\n%s", code, stderr.String())
	}
}

func TestLookupInstanceTypesThroughSDK(t *testing.T) {
	fakeAWSEnv(t)
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	got, err := lookupInstanceTypes(t.Context(), ec2LookupOptions{Region: "us-west-2", Endpoint: srv.URL}, []string{"m5.large", "m5.metal"})
	if err != nil {
		t.Fatal(err)
	}
	want := []instanceTypeLimits{
		{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, VCPUs: 2, Hypervisor: "nitro"},
		{InstanceType: "m5.metal", ENIs: 15, IPv4PerENI: 50, VCPUs: 96, BareMetal: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lookupInstanceTypes = %+v, want %+v", got, want)
	}
	// The whole command: m5.large in secondary-IP mode is 3 x (10 - 1) + 2 = 29 pods.
	code, out, errs := runCmd(t.Context(), "maxpods", "--instance-type", "m5.large", "--region", "us-west-2", "--ec2-endpoint", srv.URL)
	if code != 0 || !strings.Contains(out, "29") {
		t.Errorf("maxpods: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
