package fakeec2_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

var creds = aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret", Source: "test"}

func ec2Client(srv *fakeec2.Server) *ec2.Client {
	return ec2.New(ec2.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })})
}

func loaded(t *testing.T) *fakeec2.Server {
	t.Helper()
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	srv.Lock()
	srv.ENIs[1].DeviceIndex = 1 // eni-a2 is i-node1's second ENI
	srv.Instances = []fakeec2.Instance{{ID: "i-node1", Type: "m5.large", AZ: "us-west-2a", SubnetID: "subnet-a", VPCID: "vpc-1",
		PrivateIP: "10.0.0.10", InstanceProfileARN: fakeec2.InstanceProfile{Name: "node"}.ARN(),
		Metadata: fakeec2.MetadataOptions{HTTPTokens: "required", HopLimit: 2}}}
	srv.Unlock()
	return srv
}

// The real SDK reads the new EC2 answers: the instance with its ENIs in device order, its
// profile and IMDS settings; metadata changes stick; reservations are checked and added.
func TestInstancesWithSDK(t *testing.T) {
	t.Parallel()
	srv := loaded(t)
	c := ec2Client(srv)
	ctx := t.Context()
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-node1"}})
	if err != nil {
		t.Fatal(err)
	}
	in := out.Reservations[0].Instances[0]
	var enis []string
	for _, e := range in.NetworkInterfaces {
		enis = append(enis, aws.ToString(e.NetworkInterfaceId)+"@"+strconv.Itoa(int(aws.ToInt32(e.Attachment.DeviceIndex))))
	}
	if got := strings.Join(enis, ","); got != "eni-a1@0,eni-a2@1" {
		t.Errorf("ENIs = %s, want eni-a1@0,eni-a2@1", got)
	}
	if aws.ToString(in.SubnetId) != "subnet-a" || aws.ToString(in.IamInstanceProfile.Arn) != "arn:aws:iam::111122223333:instance-profile/node" {
		t.Errorf("subnet %s profile %s", aws.ToString(in.SubnetId), aws.ToString(in.IamInstanceProfile.Arn))
	}
	m := in.MetadataOptions
	if m.HttpEndpoint != types.InstanceMetadataEndpointStateEnabled || m.HttpTokens != types.HttpTokensStateRequired || aws.ToInt32(m.HttpPutResponseHopLimit) != 2 {
		t.Errorf("metadata options = %+v", *m)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nope"}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown instance: %v", err)
	}

	mod, err := c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-node1"),
		HttpEndpoint: types.InstanceMetadataEndpointStateDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if mod.InstanceMetadataOptions.State != types.InstanceMetadataOptionsStatePending || mod.InstanceMetadataOptions.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("modify answered %+v", *mod.InstanceMetadataOptions)
	}
	out, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-node1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Reservations[0].Instances[0].MetadataOptions.HttpEndpoint; got != types.InstanceMetadataEndpointStateDisabled {
		t.Errorf("after modify HttpEndpoint = %s", got)
	}

	enisOut, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{"i-node1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(enisOut.NetworkInterfaces) != 2 {
		t.Errorf("attachment.instance-id filter found %d ENIs, want 2", len(enisOut.NetworkInterfaces))
	}

	r, err := c.CreateSubnetCidrReservation(ctx, &ec2.CreateSubnetCidrReservationInput{SubnetId: aws.String("subnet-a"),
		Cidr: aws.String("10.0.0.208/28"), ReservationType: types.SubnetCidrReservationTypePrefix})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(r.SubnetCidrReservation.Cidr) != "10.0.0.208/28" || r.SubnetCidrReservation.ReservationType != types.SubnetCidrReservationTypePrefix {
		t.Errorf("created %+v", *r.SubnetCidrReservation)
	}
	got, err := c.GetSubnetCidrReservations(ctx, &ec2.GetSubnetCidrReservationsInput{SubnetId: aws.String("subnet-a")})
	if err != nil || len(got.SubnetIpv4CidrReservations) != 4 {
		t.Errorf("after create: %d reservations, %v", len(got.SubnetIpv4CidrReservations), err)
	}
	for name, cidr := range map[string]string{"overlap": "10.0.0.192/28", "outside": "10.9.0.0/28", "unaligned": "10.0.0.209/28"} {
		_, err := c.CreateSubnetCidrReservation(ctx, &ec2.CreateSubnetCidrReservationInput{SubnetId: aws.String("subnet-a"),
			Cidr: aws.String(cidr), ReservationType: types.SubnetCidrReservationTypePrefix})
		if apiCode(err) != "InvalidParameterValue" {
			t.Errorf("%s reservation %s: %v", name, cidr, err)
		}
	}
}

// CreateTags and DeleteNetworkInterface, read back with the SDK: a tag lands on the subnet
// and is found by the tag filters; only a detached ENI can be deleted; unknown IDs and an
// attached ENI are refused with EC2's codes.
func TestTagsAndDeleteWithSDK(t *testing.T) {
	t.Parallel()
	srv := loaded(t)
	c := ec2Client(srv)
	ctx := t.Context()
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"subnet-b"},
		Tags: []types.Tag{{Key: aws.String("kubernetes.io/role/cni"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	subs, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("tag:kubernetes.io/role/cni"), Values: []string{"1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range subs.Subnets {
		ids = append(ids, aws.ToString(s.SubnetId))
	}
	if got := strings.Join(ids, ","); got != "subnet-b,subnet-c,subnet-x" {
		t.Errorf("subnets tagged kubernetes.io/role/cni=1: %s, want subnet-b,subnet-c,subnet-x", got)
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"subnet-a", "subnet-nope"},
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	if apiCode(err) != "InvalidSubnetID.NotFound" {
		t.Errorf("tagging an unknown subnet: %v", err)
	}
	srv.Lock()
	if _, tagged := srv.Subnets[0].Tags["k"]; tagged {
		t.Error("a refused CreateTags tagged subnet-a")
	}
	srv.ENIs = append(srv.ENIs, fakeec2.ENI{ID: "eni-left", SubnetID: "subnet-a", Type: "interface", Status: "available"})
	srv.Unlock()
	_, err = c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-a1")})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "currently in use") {
		t.Errorf("deleting an attached ENI: %v", err)
	}
	if _, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-left")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-left")})
	if apiCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Errorf("deleting it again: %v", err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// call signs a request for service (as the CLI does) and returns the status and body.
func call(t *testing.T, srv *fakeec2.Server, service, method, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, payloadHash(body), service, "us-west-2", fixedTime); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIAM(t *testing.T) {
	t.Parallel()
	srv := loaded(t)
	srv.Lock()
	srv.InstanceProfiles = []fakeec2.InstanceProfile{{Name: "node", Roles: []string{"node-role"}}}
	srv.Roles = []fakeec2.Role{{Name: "node-role", AttachedPolicies: []string{"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
		InlinePolicies: []string{"extra"}, PermissionsBoundary: "arn:aws:iam::111122223333:policy/b",
		Decisions: map[string]string{"ec2:CreateNetworkInterface": "allowed"}}}
	srv.Unlock()
	form := func(kv ...string) (http.Header, string) {
		v := url.Values{"Version": {"2010-05-08"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, v.Encode()
	}
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		want   []string
	}{
		{"profile", []string{"Action", "GetInstanceProfile", "InstanceProfileName", "node"}, 200,
			[]string{"<GetInstanceProfileResult><InstanceProfile>", "<Roles><member>", "<Arn>arn:aws:iam::111122223333:role/node-role</Arn>"}},
		{"role", []string{"Action", "GetRole", "RoleName", "node-role"}, 200,
			[]string{"<GetRoleResult><Role>", "<PermissionsBoundaryArn>arn:aws:iam::111122223333:policy/b</PermissionsBoundaryArn>"}},
		{"attached", []string{"Action", "ListAttachedRolePolicies", "RoleName", "node-role"}, 200,
			[]string{"<AttachedPolicies><member><PolicyName>AmazonEKS_CNI_Policy</PolicyName>"}},
		{"inline", []string{"Action", "ListRolePolicies", "RoleName", "node-role"}, 200, []string{"<PolicyNames><member>extra</member>"}},
		{"simulate", []string{"Action", "SimulatePrincipalPolicy", "PolicySourceArn", "arn:aws:iam::111122223333:role/node-role",
			"ActionNames.member.1", "ec2:CreateNetworkInterface", "ActionNames.member.2", "ec2:AssignPrivateIpAddresses"}, 200,
			[]string{"<EvalActionName>ec2:CreateNetworkInterface</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>allowed</EvalDecision>",
				"<EvalDecision>implicitDeny</EvalDecision>"}},
		{"no such role", []string{"Action", "GetRole", "RoleName", "nope"}, 404, []string{"<ErrorResponse", "<Code>NoSuchEntity</Code>"}},
		{"role name is not an ARN", []string{"Action", "SimulatePrincipalPolicy", "PolicySourceArn", "node-role",
			"ActionNames.member.1", "ec2:CreateNetworkInterface"}, 400, []string{"<Code>InvalidInput</Code>"}},
	} {
		h, body := form(tc.kv...)
		status, got := call(t, srv, "iam", http.MethodPost, "/", h, body)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.status, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: answer lacks %q:\n%s", tc.name, w, got)
			}
		}
	}
}

func TestQuotasAndEKS(t *testing.T) {
	t.Parallel()
	srv := loaded(t)
	srv.Lock()
	srv.Quotas = []fakeec2.Quota{{ServiceCode: "vpc", QuotaCode: "L-DF5E4CA3", QuotaName: "Network interfaces per Region", Value: 5000}}
	srv.PodIdentities = []fakeec2.PodIdentityAssociation{{Cluster: "prod", ID: "a-1", Namespace: "kube-system", ServiceAccount: "aws-node",
		RoleARN: "arn:aws:iam::111122223333:role/cni"}}
	srv.Addons = []fakeec2.Addon{{Cluster: "prod", Name: "vpc-cni", Version: "v1.19.0-eksbuild.1"}}
	srv.Clusters = []fakeec2.Cluster{{Name: "prod", Version: "1.33"}}
	srv.AddonVersions = []fakeec2.AddonVersion{
		{Addon: "vpc-cni", Version: "v1.20.4-eksbuild.1", ClusterVersions: []string{"1.34", "1.33"}},
		{Addon: "vpc-cni", Version: "v1.19.0-eksbuild.1", ClusterVersions: []string{"1.33", "1.32"}, Default: []string{"1.33"}},
		{Addon: "vpc-cni", Version: "v1.15.0-eksbuild.2", ClusterVersions: []string{"1.28"}},
		{Addon: "coredns", Version: "v1.11.4-eksbuild.2", ClusterVersions: []string{"1.33"}},
	}
	srv.Unlock()
	jsonH := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"ServiceQuotasV20190624.GetServiceQuota"}}
	status, body := call(t, srv, "servicequotas", http.MethodPost, "/", jsonH, `{"ServiceCode":"vpc","QuotaCode":"L-DF5E4CA3"}`)
	if status != 200 || !strings.Contains(body, `"Value":5000.0`) || !strings.Contains(body, `"QuotaArn":"arn:aws:servicequotas:us-west-2:111122223333:vpc/L-DF5E4CA3"`) {
		t.Errorf("GetServiceQuota: %d %s", status, body)
	}
	status, body = call(t, srv, "servicequotas", http.MethodPost, "/", jsonH, `{"ServiceCode":"ec2","QuotaCode":"L-X"}`)
	if status != 400 || !strings.Contains(body, `"__type":"NoSuchResourceException"`) {
		t.Errorf("unknown quota: %d %s", status, body)
	}

	status, body = call(t, srv, "eks", http.MethodGet, "/clusters/prod/pod-identity-associations?namespace=kube-system&serviceAccount=aws-node", nil, "")
	var list struct{ Associations []map[string]string }
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.Associations) != 1 || list.Associations[0]["associationId"] != "a-1" {
		t.Errorf("ListPodIdentityAssociations: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodGet, "/clusters/prod/pod-identity-associations?serviceAccount=other", nil, "")
	if status != 200 || body != `{"associations":[]}` {
		t.Errorf("filtered list: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodGet, "/clusters/prod/pod-identity-associations/a-1", nil, "")
	if status != 200 || !strings.Contains(body, `"roleArn":"arn:aws:iam::111122223333:role/cni"`) {
		t.Errorf("DescribePodIdentityAssociation: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodPost, "/clusters/prod/addons/vpc-cni/update", http.Header{"Content-Type": {"application/json"}},
		`{"resolveConflicts":"OVERWRITE","clientRequestToken":"x"}`)
	if status != 200 || !strings.Contains(body, `"params":[{"type":"ResolveConflicts","value":"OVERWRITE"}]`) || !strings.Contains(body, `"status":"InProgress"`) {
		t.Errorf("UpdateAddon: %d %s", status, body)
	}
	srv.Lock()
	if u := srv.Addons[0].Updates; len(u) != 1 || u[0]["resolveConflicts"] != "OVERWRITE" {
		t.Errorf("recorded updates %v", u)
	}
	srv.Unlock()
	status, body = call(t, srv, "eks", http.MethodGet, "/clusters/prod", nil, "")
	if status != 200 || !strings.Contains(body, `"version":"1.33"`) || !strings.Contains(body, `"arn":"arn:aws:eks:us-west-2:111122223333:cluster/prod"`) {
		t.Errorf("DescribeCluster: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodGet, "/clusters/nope", nil, "")
	if status != 404 || !strings.Contains(body, "No cluster found for name: nope.") {
		t.Errorf("DescribeCluster of an unknown cluster: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodGet, "/addons/supported-versions?addonName=vpc-cni&kubernetesVersion=1.33", nil, "")
	var versions struct {
		Addons []struct {
			AddonName     string
			AddonVersions []struct {
				AddonVersion    string
				Compatibilities []struct {
					ClusterVersion string
					DefaultVersion bool
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &versions); status != 200 || err != nil || len(versions.Addons) != 1 {
		t.Fatalf("DescribeAddonVersions: %d %s", status, body)
	}
	var got []string
	for _, v := range versions.Addons[0].AddonVersions {
		for _, c := range v.Compatibilities {
			got = append(got, fmt.Sprintf("%s@%s/%v", v.AddonVersion, c.ClusterVersion, c.DefaultVersion))
		}
	}
	if g := strings.Join(got, ","); g != "v1.20.4-eksbuild.1@1.33/false,v1.19.0-eksbuild.1@1.33/true" {
		t.Errorf("vpc-cni versions for 1.33: %s", g)
	}
	status, body = call(t, srv, "eks", http.MethodPost, "/clusters/prod/addons/vpc-cni/update", nil, `{"addonVersion":"v1.15.0-eksbuild.2"}`)
	if status != 400 || !strings.Contains(body, "does not support Kubernetes version 1.33") {
		t.Errorf("update to a version without 1.33: %d %s", status, body)
	}
	status, body = call(t, srv, "eks", http.MethodPost, "/clusters/prod/addons/vpc-cni/update", nil, `{"addonVersion":"v1.20.4-eksbuild.1","resolveConflicts":"PRESERVE"}`)
	srv.Lock()
	if status != 200 || srv.Addons[0].Version != "v1.20.4-eksbuild.1" {
		t.Errorf("update to v1.20.4: %d %s; installed %s", status, body, srv.Addons[0].Version)
	}
	srv.Unlock()
	status, _ = call(t, srv, "eks", http.MethodPost, "/clusters/other/addons/vpc-cni/update", nil, `{}`)
	if status != 404 {
		t.Errorf("update in an unknown cluster: status %d", status)
	}
	status, body = call(t, srv, "cloudtrail", http.MethodPost, "/", nil, `{}`)
	if status != 400 || !strings.Contains(body, "UnknownService") {
		t.Errorf("unknown service: %d %s", status, body)
	}
}

var fixedTime = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func payloadHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}
