package subnets

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2API is the part of EC2 ipamwatch reads: four read-only calls, which are also the whole
// IAM policy it needs. *ec2.Client satisfies it; unit tests use a fake.
type EC2API interface {
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	GetSubnetCidrReservations(context.Context, *ec2.GetSubnetCidrReservationsInput, ...func(*ec2.Options)) (*ec2.GetSubnetCidrReservationsOutput, error)
	DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// ClientOptions configures the SDK client.
type ClientOptions struct {
	// Region; empty = the default chain (AWS_REGION, shared config), then instance metadata.
	Region string
	// Endpoint overrides the EC2 endpoint URL (tests, VPC endpoints); empty = SDK resolution.
	Endpoint string
	// MaxAttempts bounds the SDK retryer, including the first try (default 5).
	MaxAttempts int
	// MaxBackoff caps the SDK retryer's backoff between attempts (default 20 s).
	MaxBackoff time.Duration
	// Timeout bounds each HTTP request (default 30 s).
	Timeout time.Duration
	// Credentials overrides the default credential chain (IRSA, Pod Identity, env, ...).
	Credentials aws.CredentialsProvider
}

// NewClient builds an EC2 client from the default configuration chain with a bounded
// standard retryer: throttling (RequestLimitExceeded) and 5xx are retried with jittered
// exponential backoff, at most MaxAttempts times per call.
func NewClient(ctx context.Context, o ClientOptions) (*ec2.Client, error) {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(s *retry.StandardOptions) {
				s.MaxAttempts = o.MaxAttempts
				s.MaxBackoff = o.MaxBackoff
			})
		}),
		// A buildable client keeps the SDK's transport settings (e.g. AWS_CA_BUNDLE).
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(o.Timeout)),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	} else {
		opts = append(opts, config.WithEC2IMDSRegion())
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: pass --region or set AWS_REGION")
	}
	return ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		if o.Endpoint != "" {
			eo.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// Tags that place a subnet in the cluster.
const (
	tagClusterPrefix = "kubernetes.io/cluster/"
	tagRoleCNI       = "kubernetes.io/role/cni"
	tagKarpenter     = "karpenter.sh/discovery"
)

// Discovery says which subnets to look at.
type Discovery struct {
	// SubnetIDs, when set, are used as they are.
	SubnetIDs []string
	// ClusterName finds subnets tagged kubernetes.io/cluster/<name> (any value) or
	// karpenter.sh/discovery=<name>, and subnets tagged kubernetes.io/role/cni=1 in the
	// VPCs of those (or in VPCID).
	ClusterName string
	// VPCID restricts discovery to one VPC.
	VPCID string
}

// Validate reports a discovery that cannot find anything.
func (d Discovery) Validate() error {
	if len(d.SubnetIDs) == 0 && d.ClusterName == "" {
		return errors.New("no subnets to watch: pass --subnet-ids or --cluster-name")
	}
	for _, id := range d.SubnetIDs {
		if !strings.HasPrefix(id, "subnet-") {
			return fmt.Errorf("%q is not a subnet id (subnet-...)", id)
		}
	}
	return nil
}

// maxPages stops a paginated call whose server never stops handing out tokens.
const maxPages = 10000

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// DiscoverSubnets returns the subnets selected by d, sorted by id, without duplicates.
func DiscoverSubnets(ctx context.Context, api EC2API, d Discovery) ([]Subnet, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	found := map[string]Subnet{}
	if len(d.SubnetIDs) > 0 {
		if err := describeSubnets(ctx, api, &ec2.DescribeSubnetsInput{SubnetIds: d.SubnetIDs}, found); err != nil {
			return nil, err
		}
	} else {
		var vpc []types.Filter
		if d.VPCID != "" {
			vpc = []types.Filter{filter("vpc-id", d.VPCID)}
		}
		for _, f := range []types.Filter{
			filter("tag-key", tagClusterPrefix+d.ClusterName),
			filter("tag:"+tagKarpenter, d.ClusterName),
		} {
			in := &ec2.DescribeSubnetsInput{Filters: append([]types.Filter{f}, vpc...)}
			if err := describeSubnets(ctx, api, in, found); err != nil {
				return nil, err
			}
		}
		vpcs := map[string]bool{}
		if d.VPCID != "" {
			vpcs[d.VPCID] = true
		}
		for _, s := range found {
			vpcs[s.VPCID] = true
		}
		if len(vpcs) > 0 {
			ids := make([]string, 0, len(vpcs))
			for v := range vpcs {
				ids = append(ids, v)
			}
			sort.Strings(ids)
			in := &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:"+tagRoleCNI, "1"), filter("vpc-id", ids...)}}
			if err := describeSubnets(ctx, api, in, found); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Subnet, 0, len(found))
	for _, s := range found {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func describeSubnets(ctx context.Context, api EC2API, in *ec2.DescribeSubnetsInput, into map[string]Subnet) error {
	p := ec2.NewDescribeSubnetsPaginator(api, in)
	for page := 0; p.HasMorePages(); page++ {
		if page >= maxPages {
			return fmt.Errorf("DescribeSubnets: more than %d pages", maxPages)
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeSubnets: %w", err)
		}
		for _, s := range out.Subnets {
			sub := Subnet{
				ID:                 aws.ToString(s.SubnetId),
				VPCID:              aws.ToString(s.VpcId),
				AvailabilityZone:   aws.ToString(s.AvailabilityZone),
				AvailabilityZoneID: aws.ToString(s.AvailabilityZoneId),
				CIDR:               aws.ToString(s.CidrBlock),
				AvailableIPs:       int(aws.ToInt32(s.AvailableIpAddressCount)),
				Tags:               tagMap(s.Tags),
			}
			for _, v6 := range s.Ipv6CidrBlockAssociationSet {
				sub.IPv6CIDRs = append(sub.IPv6CIDRs, aws.ToString(v6.Ipv6CidrBlock))
			}
			if sub.ID != "" {
				into[sub.ID] = sub
			}
		}
	}
	return nil
}

func tagMap(tags []types.Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// filterValuesPerCall keeps each subnet-id filter well under EC2's limit on filter values.
const filterValuesPerCall = 100

// ListNetworkInterfaces returns the ENIs of the given subnets, keyed by subnet id, reading
// every page (1000 ENIs a page).
func ListNetworkInterfaces(ctx context.Context, api EC2API, subnetIDs []string) (map[string][]NetworkInterface, error) {
	out := make(map[string][]NetworkInterface, len(subnetIDs))
	for start := 0; start < len(subnetIDs); start += filterValuesPerCall {
		chunk := subnetIDs[start:min(start+filterValuesPerCall, len(subnetIDs))]
		in := &ec2.DescribeNetworkInterfacesInput{
			Filters:    []types.Filter{filter("subnet-id", chunk...)},
			MaxResults: aws.Int32(1000),
		}
		p := ec2.NewDescribeNetworkInterfacesPaginator(api, in)
		for page := 0; p.HasMorePages(); page++ {
			if page >= maxPages {
				return nil, fmt.Errorf("DescribeNetworkInterfaces: more than %d pages", maxPages)
			}
			res, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("DescribeNetworkInterfaces: %w", err)
			}
			for _, n := range res.NetworkInterfaces {
				e := NetworkInterface{
					ID:            aws.ToString(n.NetworkInterfaceId),
					SubnetID:      aws.ToString(n.SubnetId),
					InterfaceType: string(n.InterfaceType),
					Description:   aws.ToString(n.Description),
					Status:        string(n.Status),
					Tags:          tagMap(n.TagSet),
				}
				if n.Attachment != nil {
					e.InstanceID = aws.ToString(n.Attachment.InstanceId)
				}
				primary := aws.ToString(n.PrivateIpAddress)
				if primary != "" {
					e.PrivateIPs = append(e.PrivateIPs, primary)
				}
				for _, ip := range n.PrivateIpAddresses {
					if a := aws.ToString(ip.PrivateIpAddress); a != "" && a != primary {
						e.PrivateIPs = append(e.PrivateIPs, a)
					}
				}
				for _, p := range n.Ipv4Prefixes {
					if c := aws.ToString(p.Ipv4Prefix); c != "" {
						e.Prefixes = append(e.Prefixes, c)
					}
				}
				out[e.SubnetID] = append(out[e.SubnetID], e)
			}
		}
	}
	return out, nil
}

// ListReservations returns the IPv4 CIDR reservations of one subnet, reading every page.
func ListReservations(ctx context.Context, api EC2API, subnetID string) ([]Reservation, error) {
	var out []Reservation
	var token *string
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("GetSubnetCidrReservations %s: more than %d pages", subnetID, maxPages)
		}
		res, err := api.GetSubnetCidrReservations(ctx, &ec2.GetSubnetCidrReservationsInput{
			SubnetId:   aws.String(subnetID),
			NextToken:  token,
			MaxResults: aws.Int32(1000),
		})
		if err != nil {
			return nil, fmt.Errorf("GetSubnetCidrReservations %s: %w", subnetID, err)
		}
		for _, r := range res.SubnetIpv4CidrReservations {
			out = append(out, Reservation{
				ID:   aws.ToString(r.SubnetCidrReservationId),
				CIDR: aws.ToString(r.Cidr),
				Type: string(r.ReservationType),
			})
		}
		next := aws.ToString(res.NextToken)
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("GetSubnetCidrReservations %s: the server repeated page token %q", subnetID, next)
		}
		seen[next] = true
		token = aws.String(next)
	}
}

// InstanceType is what DescribeInstanceTypes says about one type, for max-pods arithmetic.
type InstanceType struct {
	Name string `json:"instance_type"`
	// ENIs is MaximumNetworkInterfaces of the default network card (what the VPC CNI uses),
	// falling back to the instance-wide maximum when the card list is absent.
	ENIs       int    `json:"enis"`
	IPv4PerENI int    `json:"ipv4_per_eni"`
	VCPUs      int    `json:"vcpus"`
	Hypervisor string `json:"hypervisor"` // "nitro", "xen" or "" (bare metal)
	BareMetal  bool   `json:"bare_metal"`
}

// instanceTypesPerCall is the most instance types DescribeInstanceTypes takes in one call.
const instanceTypesPerCall = 100

// DescribeInstanceTypes returns the named instance types, or every type the region offers
// when names is empty, sorted by name. Unknown names make EC2 fail the call
// (InvalidInstanceType), which is returned as it is.
func DescribeInstanceTypes(ctx context.Context, api EC2API, names []string) ([]InstanceType, error) {
	var inputs []*ec2.DescribeInstanceTypesInput
	if len(names) == 0 {
		inputs = append(inputs, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(100)})
	}
	for start := 0; start < len(names); start += instanceTypesPerCall {
		in := &ec2.DescribeInstanceTypesInput{}
		for _, n := range names[start:min(start+instanceTypesPerCall, len(names))] {
			in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(n))
		}
		inputs = append(inputs, in)
	}
	seen := map[string]bool{}
	var out []InstanceType
	for _, in := range inputs {
		p := ec2.NewDescribeInstanceTypesPaginator(api, in)
		for page := 0; p.HasMorePages(); page++ {
			if page >= maxPages {
				return nil, fmt.Errorf("DescribeInstanceTypes: more than %d pages", maxPages)
			}
			res, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("DescribeInstanceTypes: %w", err)
			}
			for _, it := range res.InstanceTypes {
				t := convertInstanceType(it)
				if t.Name == "" || seen[t.Name] {
					continue
				}
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func convertInstanceType(it types.InstanceTypeInfo) InstanceType {
	t := InstanceType{
		Name:       string(it.InstanceType),
		Hypervisor: string(it.Hypervisor),
		BareMetal:  aws.ToBool(it.BareMetal),
	}
	if it.VCpuInfo != nil {
		t.VCPUs = int(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	}
	if ni := it.NetworkInfo; ni != nil {
		t.IPv4PerENI = int(aws.ToInt32(ni.Ipv4AddressesPerInterface))
		t.ENIs = int(aws.ToInt32(ni.MaximumNetworkInterfaces))
		def := aws.ToInt32(ni.DefaultNetworkCardIndex)
		for _, c := range ni.NetworkCards {
			if aws.ToInt32(c.NetworkCardIndex) == def && c.MaximumNetworkInterfaces != nil {
				t.ENIs = int(*c.MaximumNetworkInterfaces)
			}
		}
	}
	return t
}
