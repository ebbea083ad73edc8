// Package fakeec2 is a small AWS API server for tests. Its core is EC2's Query API:
// DescribeSubnets, DescribeNetworkInterfaces, GetSubnetCidrReservations and
// DescribeInstanceTypes in the documented XML shapes (as the AWS SDK for Go v2 deserializers
// read them), with nextToken pagination, filters, and injectable RequestLimitExceeded
// throttling, so the real SDK client can be driven against it through a custom endpoint and
// static credentials.
//
// For the commands ipamwatch prints (confirm scripts, fixes, runbooks), which a test runs with
// the real AWS CLI through --endpoint-url, the same server also answers DescribeInstances,
// ModifyInstanceMetadataOptions and CreateSubnetCidrReservation (instances.go), CreateTags and
// DeleteNetworkInterface (tags.go), the IAM calls
// that find a role and what it may do (iam.go), Service Quotas' GetServiceQuota (quotas.go)
// and EKS's cluster, add-on and Pod Identity calls (eks.go). One endpoint serves them all: a request
// goes to the service named in its SigV4 credential scope, as the CLI signs it.
package fakeec2

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Subnet is a subnet the server knows.
type Subnet struct {
	ID, VPCID, AZ, AZID string
	CIDR                string // empty = IPv6-only
	IPv6CIDRs           []string
	Available           int
	Tags                map[string]string
}

// ENI is a network interface the server knows.
type ENI struct {
	ID, SubnetID, Type, Description, Status string
	InstanceID                              string // empty = not attached
	DeviceIndex                             int    // the attachment's device index (0 = primary)
	PrimaryIP                               string
	SecondaryIPs                            []string
	Prefixes                                []string
	Tags                                    map[string]string
}

// Reservation is a subnet CIDR reservation.
type Reservation struct {
	ID, SubnetID, CIDR, Type string
}

// InstanceType is an instance type the server knows.
type InstanceType struct {
	Name        string
	VCPUs       int
	MaxENIs     int // instance-wide maximumNetworkInterfaces
	IPv4PerENI  int
	Hypervisor  string // nitro, xen, "" (bare metal)
	BareMetal   bool
	DefaultCard int
	CardMaxENIs []int // per network card index; nil = no networkCards element
}

// Server is the fake. Fill the slices before the first request; change them under Lock.
type Server struct {
	*httptest.Server

	mu            sync.Mutex
	Subnets       []Subnet
	ENIs          []ENI
	Reservations  []Reservation
	InstanceTypes []InstanceType
	Instances     []Instance
	// IAM, Service Quotas and EKS (iam.go, quotas.go, eks.go).
	InstanceProfiles []InstanceProfile
	Roles            []Role
	Quotas           []Quota
	PodIdentities    []PodIdentityAssociation
	Addons           []Addon
	Clusters         []Cluster
	AddonVersions    []AddonVersion
	// PageSize caps items per page (before MaxResults); 0 = only MaxResults.
	PageSize int
	throttle map[string]int
	calls    map[string]int
	requests []url.Values
	nextID   int
}

// New starts a server on 127.0.0.1, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{throttle: map[string]int{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Lock and Unlock guard the exported fields while requests may be in flight.
func (s *Server) Lock()   { s.mu.Lock() }
func (s *Server) Unlock() { s.mu.Unlock() }

// Throttle makes the next n calls of action fail with 503 RequestLimitExceeded.
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[action] = n
}

// Calls returns how many requests of action arrived (throttled ones included).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Requests returns the decoded form of every request so far.
func (s *Server) Requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

type apiError struct {
	status        int
	code, message string
}

// signingService returns the service of a SigV4 Authorization header's credential scope
// (Credential=KEY/DATE/REGION/SERVICE/aws4_request), "" when there is none.
func signingService(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return ""
	}
	return parts[3]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch svc := signingService(r.Header.Get("Authorization")); svc {
	case "", "ec2":
	case "iam":
		s.serveIAM(w, r)
		return
	case "servicequotas":
		s.serveQuotas(w, r)
		return
	case "eks":
		s.serveEKS(w, r)
		return
	default:
		writeError(w, apiError{http.StatusBadRequest, "UnknownService", fmt.Sprintf("the fake serves ec2, iam, servicequotas and eks, not %s", svc)})
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeError(w, apiError{http.StatusBadRequest, "InvalidRequest", "expected a form-encoded POST"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, apiError{http.StatusUnauthorized, "AuthFailure", "request is not signed with SigV4"})
		return
	}
	form := r.PostForm
	action := form.Get("Action")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
	s.requests = append(s.requests, form)
	if s.throttle[action] > 0 {
		s.throttle[action]--
		writeError(w, apiError{http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded."})
		return
	}
	var body any
	var aerr *apiError
	switch action {
	case "DescribeSubnets":
		body, aerr = s.describeSubnets(form)
	case "DescribeNetworkInterfaces":
		body, aerr = s.describeNetworkInterfaces(form)
	case "GetSubnetCidrReservations":
		body, aerr = s.getSubnetCidrReservations(form)
	case "DescribeInstanceTypes":
		body, aerr = s.describeInstanceTypes(form)
	case "DescribeInstances":
		body, aerr = s.describeInstances(form)
	case "ModifyInstanceMetadataOptions":
		body, aerr = s.modifyInstanceMetadataOptions(form)
	case "CreateSubnetCidrReservation":
		body, aerr = s.createSubnetCidrReservation(form)
	case "CreateTags":
		body, aerr = s.createTags(form)
	case "DeleteNetworkInterface":
		body, aerr = s.deleteNetworkInterface(form)
	default:
		aerr = &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", action)}
	}
	if aerr != nil {
		writeError(w, *aerr)
		return
	}
	writeXML(w, body)
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	_, _ = fmt.Fprintf(w, "%s<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake-%s</RequestID></Response>",
		xml.Header, e.code, e.message, strings.ToLower(e.code))
}

// list reads a flat query list: prefix.1, prefix.2, ...
func list(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

type filterSet map[string][]string

func filters(form url.Values) filterSet {
	f := filterSet{}
	for i := 1; ; i++ {
		name := form.Get("Filter." + strconv.Itoa(i) + ".Name")
		if name == "" {
			return f
		}
		f[name] = list(form, "Filter."+strconv.Itoa(i)+".Value")
	}
}

// match applies the filters EC2 documents for the attributes a resource has; an unknown
// filter name is an error, as in EC2.
func (f filterSet) match(attrs map[string]string, tags map[string]string) (bool, *apiError) {
	for name, values := range f {
		var have string
		var present bool
		switch {
		case name == "tag-key":
			ok := false
			for _, v := range values {
				if _, has := tags[v]; has {
					ok = true
				}
			}
			if !ok {
				return false, nil
			}
			continue
		case strings.HasPrefix(name, "tag:"):
			have, present = tags[strings.TrimPrefix(name, "tag:")]
		default:
			have, present = attrs[name]
			if !present {
				return false, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name)}
			}
		}
		if !present || !slices.Contains(values, have) {
			return false, nil
		}
	}
	return true, nil
}

// page cuts items [from, from+n) by NextToken/MaxResults and returns the next token.
func (s *Server) page(form url.Values, total int) (from, to int, next string, aerr *apiError) {
	if tok := form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || !strings.HasPrefix(tok, "page-") || n < 0 || n > total {
			return 0, 0, "", &apiError{http.StatusBadRequest, "InvalidNextToken", "The token is invalid"}
		}
		from = n
	}
	size := total
	if mr := form.Get("MaxResults"); mr != "" {
		n, err := strconv.Atoi(mr)
		if err != nil || n < 5 || n > 1000 {
			return 0, 0, "", &apiError{http.StatusBadRequest, "InvalidParameterValue", "MaxResults must be between 5 and 1000"}
		}
		size = n
	}
	if s.PageSize > 0 && s.PageSize < size {
		size = s.PageSize
	}
	to = min(from+size, total)
	if to < total {
		next = "page-" + strconv.Itoa(to)
	}
	return from, to, next, nil
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xmlTags(m map[string]string) []xmlTag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]xmlTag, 0, len(keys))
	for _, k := range keys {
		out = append(out, xmlTag{k, m[k]})
	}
	return out
}

type xmlIPv6Assoc struct {
	AssociationID string `xml:"associationId"`
	CIDR          string `xml:"ipv6CidrBlock"`
	State         string `xml:"ipv6CidrBlockState>state"`
}

type xmlSubnet struct {
	SubnetID  string         `xml:"subnetId"`
	State     string         `xml:"state"`
	VPCID     string         `xml:"vpcId"`
	CIDR      string         `xml:"cidrBlock,omitempty"`
	IPv6      []xmlIPv6Assoc `xml:"ipv6CidrBlockAssociationSet>item"`
	Available int            `xml:"availableIpAddressCount"`
	AZ        string         `xml:"availabilityZone"`
	AZID      string         `xml:"availabilityZoneId"`
	Default   bool           `xml:"defaultForAz"`
	IPv6Only  bool           `xml:"ipv6Native"`
	Tags      []xmlTag       `xml:"tagSet>item"`
}

type describeSubnetsResponse struct {
	XMLName   xml.Name    `xml:"DescribeSubnetsResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	RequestID string      `xml:"requestId"`
	Subnets   []xmlSubnet `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (s *Server) describeSubnets(form url.Values) (any, *apiError) {
	ids := list(form, "SubnetId")
	f := filters(form)
	var hits []Subnet
	for _, id := range ids {
		if !slices.ContainsFunc(s.Subnets, func(x Subnet) bool { return x.ID == id }) {
			return nil, &apiError{http.StatusBadRequest, "InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", id)}
		}
	}
	for _, sub := range s.Subnets {
		if len(ids) > 0 && !slices.Contains(ids, sub.ID) {
			continue
		}
		ok, aerr := f.match(map[string]string{"vpc-id": sub.VPCID, "subnet-id": sub.ID, "availability-zone": sub.AZ}, sub.Tags)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			hits = append(hits, sub)
		}
	}
	from, to, next, aerr := s.page(form, len(hits))
	if aerr != nil {
		return nil, aerr
	}
	resp := describeSubnetsResponse{Xmlns: xmlns, RequestID: "req-subnets", NextToken: next, Subnets: []xmlSubnet{}}
	for _, sub := range hits[from:to] {
		x := xmlSubnet{SubnetID: sub.ID, State: "available", VPCID: sub.VPCID, CIDR: sub.CIDR, Available: sub.Available,
			AZ: sub.AZ, AZID: sub.AZID, IPv6Only: sub.CIDR == "", Tags: xmlTags(sub.Tags)}
		for i, c := range sub.IPv6CIDRs {
			x.IPv6 = append(x.IPv6, xmlIPv6Assoc{AssociationID: fmt.Sprintf("subnet-cidr-assoc-%d", i), CIDR: c, State: "associated"})
		}
		resp.Subnets = append(resp.Subnets, x)
	}
	return resp, nil
}

type xmlPrivateIP struct {
	Address string `xml:"privateIpAddress"`
	Primary bool   `xml:"primary"`
}

type xmlPrefix struct {
	Prefix string `xml:"ipv4Prefix"`
}

type xmlAttachment struct {
	AttachmentID string `xml:"attachmentId"`
	InstanceID   string `xml:"instanceId"`
	DeviceIndex  int    `xml:"deviceIndex"`
	Status       string `xml:"status"`
}

type xmlENI struct {
	ID          string         `xml:"networkInterfaceId"`
	SubnetID    string         `xml:"subnetId"`
	VPCID       string         `xml:"vpcId"`
	AZ          string         `xml:"availabilityZone"`
	Description string         `xml:"description"`
	OwnerID     string         `xml:"ownerId"`
	Managed     bool           `xml:"requesterManaged"`
	Status      string         `xml:"status"`
	MAC         string         `xml:"macAddress"`
	PrimaryIP   string         `xml:"privateIpAddress"`
	SrcDstCheck bool           `xml:"sourceDestCheck"`
	Type        string         `xml:"interfaceType"`
	Attachment  *xmlAttachment `xml:"attachment,omitempty"`
	PrivateIPs  []xmlPrivateIP `xml:"privateIpAddressesSet>item"`
	Prefixes    []xmlPrefix    `xml:"ipv4PrefixSet>item"`
	Tags        []xmlTag       `xml:"tagSet>item"`
}

type describeENIsResponse struct {
	XMLName   xml.Name `xml:"DescribeNetworkInterfacesResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	ENIs      []xmlENI `xml:"networkInterfaceSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

func (s *Server) describeNetworkInterfaces(form url.Values) (any, *apiError) {
	f := filters(form)
	var hits []ENI
	for _, e := range s.ENIs {
		status := e.Status
		if status == "" {
			status = "in-use"
		}
		ok, aerr := f.match(map[string]string{"subnet-id": e.SubnetID, "interface-type": e.Type, "status": status,
			"network-interface-id": e.ID, "attachment.instance-id": e.InstanceID}, e.Tags)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			hits = append(hits, e)
		}
	}
	from, to, next, aerr := s.page(form, len(hits))
	if aerr != nil {
		return nil, aerr
	}
	resp := describeENIsResponse{Xmlns: xmlns, RequestID: "req-enis", NextToken: next, ENIs: []xmlENI{}}
	for i, e := range hits[from:to] {
		x := xmlENI{ID: e.ID, SubnetID: e.SubnetID, VPCID: "vpc-fake", Description: e.Description, OwnerID: "111122223333",
			Managed: e.Type != "interface" && e.Type != "", Status: e.Status, MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", (from+i)/256, (from+i)%256),
			PrimaryIP: e.PrimaryIP, SrcDstCheck: true, Type: e.Type, Tags: xmlTags(e.Tags)}
		for _, p := range e.Prefixes {
			x.Prefixes = append(x.Prefixes, xmlPrefix{p})
		}
		if x.Status == "" {
			x.Status = "in-use"
		}
		if e.InstanceID != "" {
			x.Attachment = &xmlAttachment{AttachmentID: "eni-attach-" + e.ID, InstanceID: e.InstanceID, DeviceIndex: e.DeviceIndex, Status: "attached"}
		}
		if e.PrimaryIP != "" {
			x.PrivateIPs = append(x.PrivateIPs, xmlPrivateIP{Address: e.PrimaryIP, Primary: true})
		}
		for _, ip := range e.SecondaryIPs {
			x.PrivateIPs = append(x.PrivateIPs, xmlPrivateIP{Address: ip})
		}
		resp.ENIs = append(resp.ENIs, x)
	}
	return resp, nil
}

type xmlReservation struct {
	ID          string `xml:"subnetCidrReservationId"`
	SubnetID    string `xml:"subnetId"`
	CIDR        string `xml:"cidr"`
	Type        string `xml:"reservationType"`
	OwnerID     string `xml:"ownerId"`
	Description string `xml:"description"`
}

type getReservationsResponse struct {
	XMLName   xml.Name         `xml:"GetSubnetCidrReservationsResponse"`
	Xmlns     string           `xml:"xmlns,attr"`
	RequestID string           `xml:"requestId"`
	IPv4      []xmlReservation `xml:"subnetIpv4CidrReservationSet>item"`
	IPv6      []xmlReservation `xml:"subnetIpv6CidrReservationSet>item"`
	NextToken string           `xml:"nextToken,omitempty"`
}

func (s *Server) getSubnetCidrReservations(form url.Values) (any, *apiError) {
	id := form.Get("SubnetId")
	if id == "" {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter SubnetId"}
	}
	var hits []Reservation
	for _, r := range s.Reservations {
		if r.SubnetID == id {
			hits = append(hits, r)
		}
	}
	from, to, next, aerr := s.page(form, len(hits))
	if aerr != nil {
		return nil, aerr
	}
	resp := getReservationsResponse{Xmlns: xmlns, RequestID: "req-scr", NextToken: next, IPv4: []xmlReservation{}}
	for _, r := range hits[from:to] {
		resp.IPv4 = append(resp.IPv4, xmlReservation{ID: r.ID, SubnetID: r.SubnetID, CIDR: r.CIDR, Type: r.Type, OwnerID: "111122223333"})
	}
	return resp, nil
}

type xmlCard struct {
	Index   int `xml:"networkCardIndex"`
	MaxENIs int `xml:"maximumNetworkInterfaces"`
}

type xmlNetworkInfo struct {
	MaxENIs     int       `xml:"maximumNetworkInterfaces"`
	IPv4PerENI  int       `xml:"ipv4AddressesPerInterface"`
	MaxCards    int       `xml:"maximumNetworkCards"`
	DefaultCard int       `xml:"defaultNetworkCardIndex"`
	Cards       []xmlCard `xml:"networkCards>item,omitempty"`
}

type xmlInstanceType struct {
	Name       string         `xml:"instanceType"`
	Current    bool           `xml:"currentGeneration"`
	BareMetal  bool           `xml:"bareMetal"`
	Hypervisor string         `xml:"hypervisor,omitempty"`
	VCPUs      int            `xml:"vCpuInfo>defaultVCpus"`
	Network    xmlNetworkInfo `xml:"networkInfo"`
}

type describeTypesResponse struct {
	XMLName   xml.Name          `xml:"DescribeInstanceTypesResponse"`
	Xmlns     string            `xml:"xmlns,attr"`
	RequestID string            `xml:"requestId"`
	Types     []xmlInstanceType `xml:"instanceTypeSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func (s *Server) describeInstanceTypes(form url.Values) (any, *apiError) {
	names := list(form, "InstanceType")
	if len(names) > 100 {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", "at most 100 instance types"}
	}
	var hits []InstanceType
	for _, n := range names {
		i := slices.IndexFunc(s.InstanceTypes, func(t InstanceType) bool { return t.Name == n })
		if i < 0 {
			return nil, &apiError{http.StatusBadRequest, "InvalidInstanceType", fmt.Sprintf("The following supplied instance types do not exist: [%s]", n)}
		}
		hits = append(hits, s.InstanceTypes[i])
	}
	if len(names) == 0 {
		hits = s.InstanceTypes
	}
	from, to, next, aerr := s.page(form, len(hits))
	if aerr != nil {
		return nil, aerr
	}
	resp := describeTypesResponse{Xmlns: xmlns, RequestID: "req-types", NextToken: next, Types: []xmlInstanceType{}}
	for _, t := range hits[from:to] {
		x := xmlInstanceType{Name: t.Name, Current: true, BareMetal: t.BareMetal, Hypervisor: t.Hypervisor, VCPUs: t.VCPUs,
			Network: xmlNetworkInfo{MaxENIs: t.MaxENIs, IPv4PerENI: t.IPv4PerENI, MaxCards: max(1, len(t.CardMaxENIs)), DefaultCard: t.DefaultCard}}
		for i, m := range t.CardMaxENIs {
			x.Network.Cards = append(x.Network.Cards, xmlCard{Index: i, MaxENIs: m})
		}
		resp.Types = append(resp.Types, x)
	}
	return resp, nil
}
