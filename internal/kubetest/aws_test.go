package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// TestAWSCLIAgainstFakeEC2: Debian's awscli v2 runs `ec2 describe-subnets --endpoint-url`
// against the project's fake EC2 Query API, sends what the CLI documents, applies --query to
// the answer, and refuses a misspelt option.
func TestAWSCLIAgainstFakeEC2(t *testing.T) {
	t.Parallel()
	aws, env := testtools.AWSCLI(t)
	fake := fakeec2.New(t)
	fake.LoadProdCluster()
	run := func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, append([]string{"--endpoint-url", fake.URL}, args...)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	out, stderr, err := run("--version")
	if err != nil || !strings.HasPrefix(out+stderr, "aws-cli/2.") {
		t.Fatalf("%s --version: %q %q %v; want awscli v2", aws, out, stderr, err)
	}

	out, stderr, err = run("ec2", "describe-subnets", "--subnet-ids", "subnet-a", "subnet-b",
		"--query", "Subnets[].{id: SubnetId, free: AvailableIpAddressCount, cidr: CidrBlock, az: AvailabilityZone}",
		"--output", "json")
	if err != nil {
		t.Fatalf("aws ec2 describe-subnets: %v\n%s%s", err, out, stderr)
	}
	type row struct {
		ID   string `json:"id"`
		Free int    `json:"free"`
		CIDR string `json:"cidr"`
		AZ   string `json:"az"`
	}
	var got []row
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--query output is not the JSON asked for: %v\n%s", err, out)
	}
	var want []row
	fake.Lock()
	for _, s := range fake.Subnets {
		if s.ID == "subnet-a" || s.ID == "subnet-b" {
			want = append(want, row{ID: s.ID, Free: s.Available, CIDR: s.CIDR, AZ: s.AZ})
		}
	}
	fake.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("describe-subnets through awscli (-fake holds +awscli printed):\n%s", diff)
	}
	reqs := fake.Requests()
	if len(reqs) == 0 {
		t.Fatal("the fake saw no request")
	}
	last := reqs[len(reqs)-1]
	if last.Get("Action") != "DescribeSubnets" || !slices.Equal([]string{last.Get("SubnetId.1"), last.Get("SubnetId.2")}, []string{"subnet-a", "subnet-b"}) {
		t.Errorf("awscli sent %v, want Action=DescribeSubnets SubnetId.1=subnet-a SubnetId.2=subnet-b", last)
	}

	// Note: awscli takes an unambiguous prefix of an option (--subnet-id for --subnet-ids);
	// only a name that is no option's prefix is refused.
	callsBefore := fake.Calls("DescribeSubnets")
	_, stderr, err = run("ec2", "describe-subnets", "--subnet-idz", "subnet-a")
	if err == nil || !strings.Contains(stderr, "Unknown options") {
		t.Errorf("a misspelt option: err %v, stderr %q; want awscli to refuse it", err, stderr)
	}
	if n := fake.Calls("DescribeSubnets"); n != callsBefore {
		t.Errorf("a refused command still reached the fake (%d calls, was %d)", n, callsBefore)
	}
}
