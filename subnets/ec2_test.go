package subnets

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

func staticCreds() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret", Source: "test"}, nil
	})
}

// fakeClient is the real SDK client pointed at the fake EC2 server.
func fakeClient(t *testing.T, srv *fakeec2.Server, attempts int) EC2API {
	t.Helper()
	c, err := NewClient(t.Context(), ClientOptions{
		Region: "us-west-2", Endpoint: srv.URL, MaxAttempts: attempts, MaxBackoff: time.Millisecond,
		Timeout: 10 * time.Second, Credentials: staticCreds(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixedNow() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }

// wantProd is the hand-worked expectation for fakeec2.LoadProdCluster.
var wantProd = []SubnetSummary{
	// 256 - 5 AWS - 39 used - 20 explicit = 192 free; free blocks 5,7,8,10,11,13,14;
	// 160..191 (prefix reservation, free) is the largest aligned free run.
	{SubnetID: "subnet-a", AvailabilityZone: "us-west-2a", Size: 256, FreeAddresses: 192, FreePrefixBlocks: 7, LargestFreeBlock: 32, FragmentationRatio: 80.0 / 192},
	// 64 - 5 - 3 = 56 free, none of it in a whole /28.
	{SubnetID: "subnet-b", AvailabilityZone: "us-west-2b", Size: 64, FreeAddresses: 56, FreePrefixBlocks: 0, LargestFreeBlock: 8, FragmentationRatio: 1},
	// /16: 65536 - 5 - 50 used; 4096 blocks minus 2 AWS, 3 prefixes, 1 partial.
	// eni-c3 (a leaked CNI ENI) holds 2 addresses in one /28.
	{SubnetID: "subnet-c", AvailabilityZone: "us-west-2c", Size: 65536, FreeAddresses: 65479, FreePrefixBlocks: 4089, LargestFreeBlock: 16384, FragmentationRatio: 55.0 / 65479},
}

func TestSnapshotAgainstFakeEC2(t *testing.T) {
	t.Parallel()
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	srv.PageSize = 2 // every list takes several pages
	src := &Source{API: fakeClient(t, srv, 3), Discovery: Discovery{ClusterName: "prod"}, ClusterName: "prod"}
	snap, err := src.Snapshot(t.Context(), fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range snap.Results {
		ids = append(ids, r.Subnet.ID)
	}
	if diff := cmp.Diff([]string{"subnet-a", "subnet-b", "subnet-c", "subnet-v6"}, ids); diff != "" {
		t.Errorf("discovered subnets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantProd, snap.Summaries()); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	v6 := snap.Results[3]
	if v6.Analysis != nil || !strings.Contains(v6.Skipped, "IPv6-only") {
		t.Errorf("IPv6-only subnet: analysis %v, skipped %q", v6.Analysis != nil, v6.Skipped)
	}
	a := snap.Results[0].Analysis
	if got, want := string(a.Blocks), "A++PP.+..+rrR..A"; got != want {
		t.Errorf("subnet-a block map = %s, want %s", got, want)
	}
	wantUsed := map[string]int{HolderClusterNode: 36, HolderNATGateway: 1, HolderOtherInstance: 1, HolderBranch: 1}
	for _, h := range Holders() {
		if a.UsedBy[h] != wantUsed[h] {
			t.Errorf("subnet-a used by %s = %d, want %d", h, a.UsedBy[h], wantUsed[h])
		}
	}
	if a.ExplicitReserved != 20 || a.PrefixReserved != 32 || a.FreePrefixOnly != 32 || a.AssignedPrefixes != 2 {
		t.Errorf("subnet-a reservations: explicit %d prefix %d prefix-only free %d prefixes %d", a.ExplicitReserved, a.PrefixReserved, a.FreePrefixOnly, a.AssignedPrefixes)
	}
	wantRec := []Recommendation{{InstanceID: "i-node2", ENIs: []string{"eni-b2"}, BlocksFreed: 2, AddressesHeld: 2}}
	if diff := cmp.Diff(wantRec, snap.Results[1].Recommendations); diff != "" {
		t.Errorf("subnet-b recommendations (-want +got):\n%s", diff)
	}
	// 9 ENIs in the three IPv4 subnets at 2 a page: 5 pages; the IPv6-only subnet is never
	// asked for reservations; subnet-a's 3 reservations take 2 pages.
	if n := srv.Calls("DescribeNetworkInterfaces"); n != 5 {
		t.Errorf("DescribeNetworkInterfaces calls = %d, want 5", n)
	}
	if n := srv.Calls("GetSubnetCidrReservations"); n != 4 {
		t.Errorf("GetSubnetCidrReservations calls = %d, want 4 (2 pages for subnet-a, 1 each for b and c)", n)
	}
	for _, req := range srv.Requests() {
		if req.Get("Action") == "DescribeNetworkInterfaces" && req.Get("Filter.1.Name") != "subnet-id" {
			t.Errorf("DescribeNetworkInterfaces without a subnet-id filter: %v", req)
		}
		if req.Get("Action") == "GetSubnetCidrReservations" && req.Get("SubnetId") == "subnet-v6" {
			t.Error("asked for the reservations of the IPv6-only subnet")
		}
	}
}

func TestDiscoverBySubnetIDs(t *testing.T) {
	t.Parallel()
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	api := fakeClient(t, srv, 2)
	got, err := DiscoverSubnets(t.Context(), api, Discovery{SubnetIDs: []string{"subnet-y", "subnet-b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "subnet-b" || got[1].ID != "subnet-y" || got[0].CIDR != "10.0.1.0/26" || got[0].AvailabilityZoneID != "usw2-az2" {
		t.Errorf("DiscoverSubnets = %+v", got)
	}
	_, err = DiscoverSubnets(t.Context(), api, Discovery{SubnetIDs: []string{"subnet-missing"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSubnetID.NotFound" {
		t.Errorf("unknown subnet: err = %v, want InvalidSubnetID.NotFound", err)
	}
	if _, err := DiscoverSubnets(t.Context(), api, Discovery{}); err == nil {
		t.Error("empty discovery succeeded")
	}
	if _, err := DiscoverSubnets(t.Context(), api, Discovery{SubnetIDs: []string{"vpc-1"}}); err == nil {
		t.Error("a VPC id passed as subnet id was accepted")
	}
}

func TestThrottlingIsRetriedThenBounded(t *testing.T) {
	t.Parallel()
	t.Run("recovers within the retry budget", func(t *testing.T) {
		t.Parallel()
		srv := fakeec2.New(t)
		srv.LoadProdCluster()
		srv.Throttle("DescribeNetworkInterfaces", 2)
		src := &Source{API: fakeClient(t, srv, 3), Discovery: Discovery{ClusterName: "prod"}, ClusterName: "prod"}
		snap, err := src.Snapshot(t.Context(), fixedNow)
		if err != nil {
			t.Fatalf("throttled twice with 3 attempts: %v", err)
		}
		if diff := cmp.Diff(wantProd, snap.Summaries()); diff != "" {
			t.Errorf("summaries after throttling (-want +got):\n%s", diff)
		}
		if n := srv.Calls("DescribeNetworkInterfaces"); n != 3 {
			t.Errorf("DescribeNetworkInterfaces calls = %d, want 3 (2 throttled + 1)", n)
		}
	})
	t.Run("gives up after max attempts", func(t *testing.T) {
		t.Parallel()
		srv := fakeec2.New(t)
		srv.LoadProdCluster()
		srv.Throttle("DescribeSubnets", 100)
		src := &Source{API: fakeClient(t, srv, 4), Discovery: Discovery{ClusterName: "prod"}}
		_, err := src.Snapshot(t.Context(), fixedNow)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
			t.Fatalf("err = %v, want RequestLimitExceeded", err)
		}
		if n := srv.Calls("DescribeSubnets"); n != 4 {
			t.Errorf("DescribeSubnets calls = %d, want exactly 4 attempts", n)
		}
	})
}

func TestDescribeInstanceTypes(t *testing.T) {
	t.Parallel()
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	srv.PageSize = 2
	api := fakeClient(t, srv, 2)

	all, err := DescribeInstanceTypes(t.Context(), api, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []InstanceType{
		{Name: "fake.multicard", ENIs: 4, IPv4PerENI: 50, VCPUs: 192, Hypervisor: "nitro"},
		{Name: "m4.large", ENIs: 2, IPv4PerENI: 10, VCPUs: 2, Hypervisor: "xen"},
		{Name: "m5.large", ENIs: 3, IPv4PerENI: 10, VCPUs: 2, Hypervisor: "nitro"},
		{Name: "m5.metal", ENIs: 15, IPv4PerENI: 50, VCPUs: 96, BareMetal: true},
		{Name: "t3.medium", ENIs: 3, IPv4PerENI: 6, VCPUs: 2, Hypervisor: "nitro"},
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("all instance types (-want +got):\n%s", diff)
	}
	if n := srv.Calls("DescribeInstanceTypes"); n != 3 {
		t.Errorf("DescribeInstanceTypes calls = %d, want 3 pages", n)
	}

	one, err := DescribeInstanceTypes(t.Context(), api, []string{"t3.medium"})
	if err != nil || len(one) != 1 || one[0] != want[4] {
		t.Errorf("t3.medium = %+v, %v", one, err)
	}
	_, err = DescribeInstanceTypes(t.Context(), api, []string{"m5.huge"})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceType" {
		t.Errorf("unknown type: err = %v, want InvalidInstanceType", err)
	}
}
