package subnets

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// memEC2 is the in-memory fake of EC2API: one page per call, an optional error.
type memEC2 struct {
	mu      sync.Mutex
	subnets []types.Subnet
	enis    []types.NetworkInterface
	res     map[string][]types.SubnetCidrReservation
	err     error
	calls   int
}

func (m *memEC2) fail() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return m.err
}

func (m *memEC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	if err := m.fail(); err != nil {
		return nil, err
	}
	var out []types.Subnet
	for _, s := range m.subnets {
		for _, id := range in.SubnetIds {
			if aws.ToString(s.SubnetId) == id {
				out = append(out, s)
			}
		}
	}
	return &ec2.DescribeSubnetsOutput{Subnets: out}, nil
}

func (m *memEC2) DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	if err := m.fail(); err != nil {
		return nil, err
	}
	return &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: m.enis}, nil
}

func (m *memEC2) GetSubnetCidrReservations(_ context.Context, in *ec2.GetSubnetCidrReservationsInput, _ ...func(*ec2.Options)) (*ec2.GetSubnetCidrReservationsOutput, error) {
	if err := m.fail(); err != nil {
		return nil, err
	}
	return &ec2.GetSubnetCidrReservationsOutput{SubnetIpv4CidrReservations: m.res[aws.ToString(in.SubnetId)]}, nil
}

func (m *memEC2) DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	return nil, errors.New("not used")
}

func newMemEC2() *memEC2 {
	return &memEC2{
		subnets: []types.Subnet{
			{SubnetId: aws.String("subnet-1"), VpcId: aws.String("vpc-1"), AvailabilityZone: aws.String("eu-west-1a"),
				CidrBlock: aws.String("10.0.0.0/26"), AvailableIpAddressCount: aws.Int32(40)},
			{SubnetId: aws.String("subnet-6"), VpcId: aws.String("vpc-1"), AvailabilityZone: aws.String("eu-west-1b"),
				Ipv6CidrBlockAssociationSet: []types.SubnetIpv6CidrBlockAssociation{{Ipv6CidrBlock: aws.String("2a05:d018::/64")}}},
		},
		enis: []types.NetworkInterface{
			{NetworkInterfaceId: aws.String("eni-1"), SubnetId: aws.String("subnet-1"), InterfaceType: types.NetworkInterfaceTypeInterface,
				Attachment:       &types.NetworkInterfaceAttachment{InstanceId: aws.String("i-1")},
				PrivateIpAddress: aws.String("10.0.0.4"),
				PrivateIpAddresses: []types.NetworkInterfacePrivateIpAddress{
					{PrivateIpAddress: aws.String("10.0.0.4"), Primary: aws.Bool(true)}, {PrivateIpAddress: aws.String("10.0.0.5")},
				},
				Ipv4Prefixes: []types.Ipv4PrefixSpecification{{Ipv4Prefix: aws.String("10.0.0.16/28")}}},
			{NetworkInterfaceId: aws.String("eni-2"), SubnetId: aws.String("subnet-1"), InterfaceType: types.NetworkInterfaceTypeVpcEndpoint,
				PrivateIpAddress: aws.String("10.0.0.40")},
		},
		res: map[string][]types.SubnetCidrReservation{
			"subnet-1": {{SubnetCidrReservationId: aws.String("scr-1"), Cidr: aws.String("10.0.0.48/30"), ReservationType: types.SubnetCidrReservationTypeExplicit}},
		},
	}
}

func newTestPoller(api EC2API) *Poller {
	return &Poller{
		Source: &Source{API: api, Discovery: Discovery{SubnetIDs: []string{"subnet-1", "subnet-6"}},
			Nodes: func(context.Context) (map[string]string, error) { return map[string]string{"i-1": "node-1"}, nil }},
		Now:  fixedNow,
		Rand: rand.New(rand.NewSource(1)),
	}
}

func render(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestCollectorGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		leader bool
		err    error
	}{
		{name: "healthy", leader: true},
		{name: "ec2_error", leader: true, err: errors.New("operation error EC2: DescribeSubnets, api error UnauthorizedOperation")},
		{name: "follower", leader: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newMemEC2()
			api.err = tc.err
			p := newTestPoller(api)
			p.SetLeader(true)
			err := p.PollOnce(t.Context())
			if (err != nil) != (tc.err != nil) {
				t.Fatalf("PollOnce err = %v, want error %v", err, tc.err != nil)
			}
			p.SetLeader(tc.leader)
			c := NewCollector(p)
			testtools.Golden(t, filepath.Join("testdata", tc.name+".prom"), render(t, c), *update)
			problems, err := testutil.CollectAndLint(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("lint %s: %s", p.Metric, p.Text)
			}
		})
	}
}

func TestExpositionPassesPromtool(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	p := newTestPoller(newMemEC2())
	p.SetLeader(true)
	if err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(render(t, NewCollector(p)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestPollerBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	api := newMemEC2()
	api.err = errors.New("RequestLimitExceeded")
	p := newTestPoller(api)
	p.Jitter = 0
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var waits []time.Duration
	p.Wait = func(_ context.Context, d time.Duration) bool {
		waits = append(waits, d)
		switch len(waits) {
		case 5: // EC2 recovers before the sixth poll
			api.mu.Lock()
			api.err = nil
			api.mu.Unlock()
		case 7:
			cancel()
			return false
		}
		return true
	}
	p.Run(ctx)
	m := time.Minute
	want := []time.Duration{m / 2, m, 2 * m, 4 * m, 5 * m, 5 * m, 5 * m}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	st := p.state()
	if st.errors != 5 || st.last == nil || !st.lastSuccess.Equal(fixedNow()) {
		t.Errorf("after recovery: errors %d, snapshot %v, last success %v", st.errors, st.last != nil, st.lastSuccess)
	}
}

func TestNextDelayJitterBounds(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(7))
	iv := 5 * time.Minute
	seen := map[bool]bool{}
	for range 1000 {
		d := NextDelay(iv, 0.1, 30*time.Second, 0, r)
		if d < 270*time.Second || d > 330*time.Second {
			t.Fatalf("delay %v outside 5m +/- 10%%", d)
		}
		seen[d > iv] = true
	}
	if !seen[true] || !seen[false] {
		t.Error("jitter never spread the delay both ways")
	}
}

func TestSnapshotSummariesAndSkips(t *testing.T) {
	t.Parallel()
	p := newTestPoller(newMemEC2())
	if err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := p.Last()
	want := []SubnetSummary{{SubnetID: "subnet-1", AvailabilityZone: "eu-west-1a", Size: 64, FreeAddresses: 64 - 5 - 19 - 4,
		FreePrefixBlocks: 0, LargestFreeBlock: 8, FragmentationRatio: 1}}
	if diff := cmp.Diff(want, snap.Summaries()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if a := snap.Results[0].Analysis; a.UsedBy[HolderClusterNode] != 18 || a.UsedBy[HolderVPCEndpoint] != 1 {
		t.Errorf("used by = %v", a.UsedBy)
	}
	var text bytes.Buffer
	if err := WriteText(&text, snap); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"verdict: fragmented", "AP+A", "skipped: IPv6-only", "cluster_node 18, vpc_endpoint 1"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	// A follower forgets the snapshot: two replicas never export the same subnets.
	p.SetLeader(false)
	if p.Last() != nil {
		t.Error("snapshot kept after losing leadership")
	}
}
