package fakeec2

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
)

// Instance is an EC2 instance the server knows. Its network interfaces are the ENIs whose
// InstanceID is its ID, in device-index order.
type Instance struct {
	ID, Type, AZ, SubnetID, VPCID string
	PrivateIP, PrivateDNSName     string
	// InstanceProfileARN is the ARN of its IAM instance profile, "" for none.
	InstanceProfileARN string
	Metadata           MetadataOptions
	Tags               map[string]string
}

// MetadataOptions are an instance's IMDS settings as DescribeInstances reports them; zero
// values read as EC2's defaults (endpoint enabled, IMDSv2 optional, hop limit 1).
type MetadataOptions struct {
	HTTPEndpoint string // enabled | disabled
	HTTPTokens   string // optional | required
	HopLimit     int
}

func (m MetadataOptions) withDefaults() MetadataOptions {
	if m.HTTPEndpoint == "" {
		m.HTTPEndpoint = "enabled"
	}
	if m.HTTPTokens == "" {
		m.HTTPTokens = "optional"
	}
	if m.HopLimit == 0 {
		m.HopLimit = 1
	}
	return m
}

type xmlMetadataOptions struct {
	State        string `xml:"state"`
	HTTPTokens   string `xml:"httpTokens"`
	HopLimit     int    `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint string `xml:"httpEndpoint"`
	IPv6         string `xml:"httpProtocolIpv6"`
	Tags         string `xml:"instanceMetadataTags"`
}

func (m MetadataOptions) xml(state string) xmlMetadataOptions {
	m = m.withDefaults()
	return xmlMetadataOptions{State: state, HTTPTokens: m.HTTPTokens, HopLimit: m.HopLimit, HTTPEndpoint: m.HTTPEndpoint,
		IPv6: "disabled", Tags: "disabled"}
}

type xmlInstanceENI struct {
	ID          string         `xml:"networkInterfaceId"`
	SubnetID    string         `xml:"subnetId"`
	VPCID       string         `xml:"vpcId"`
	Description string         `xml:"description"`
	OwnerID     string         `xml:"ownerId"`
	Status      string         `xml:"status"`
	PrimaryIP   string         `xml:"privateIpAddress"`
	Type        string         `xml:"interfaceType"`
	Attachment  xmlAttachment  `xml:"attachment"`
	PrivateIPs  []xmlPrivateIP `xml:"privateIpAddressesSet>item"`
	Prefixes    []xmlPrefix    `xml:"ipv4PrefixSet>item"`
}

type xmlInstance struct {
	ID             string             `xml:"instanceId"`
	ImageID        string             `xml:"imageId"`
	State          xmlInstanceState   `xml:"instanceState"`
	PrivateDNSName string             `xml:"privateDnsName"`
	Type           string             `xml:"instanceType"`
	AZ             string             `xml:"placement>availabilityZone"`
	SubnetID       string             `xml:"subnetId"`
	VPCID          string             `xml:"vpcId"`
	PrivateIP      string             `xml:"privateIpAddress"`
	Profile        *xmlProfileRef     `xml:"iamInstanceProfile,omitempty"`
	ENIs           []xmlInstanceENI   `xml:"networkInterfaceSet>item"`
	Metadata       xmlMetadataOptions `xml:"metadataOptions"`
	Tags           []xmlTag           `xml:"tagSet>item"`
}

type xmlInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlProfileRef struct {
	ARN string `xml:"arn"`
	ID  string `xml:"id"`
}

type xmlReservationItem struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name             `xml:"DescribeInstancesResponse"`
	Xmlns        string               `xml:"xmlns,attr"`
	RequestID    string               `xml:"requestId"`
	Reservations []xmlReservationItem `xml:"reservationSet>item"`
	NextToken    string               `xml:"nextToken,omitempty"`
}

// describeInstances answers with one reservation per instance, as EC2 does for instances
// launched one at a time. Unknown instance ids fail the whole call (InvalidInstanceID.NotFound).
func (s *Server) describeInstances(form url.Values) (any, *apiError) {
	ids := list(form, "InstanceId")
	for _, id := range ids {
		if !slices.ContainsFunc(s.Instances, func(x Instance) bool { return x.ID == id }) {
			return nil, &apiError{http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id)}
		}
	}
	f := filters(form)
	var hits []Instance
	for _, in := range s.Instances {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		ok, aerr := f.match(map[string]string{"instance-id": in.ID, "instance-type": in.Type, "subnet-id": in.SubnetID,
			"availability-zone": in.AZ, "private-dns-name": in.PrivateDNSName, "instance-state-name": "running"}, in.Tags)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			hits = append(hits, in)
		}
	}
	from, to, next, aerr := s.page(form, len(hits))
	if aerr != nil {
		return nil, aerr
	}
	resp := describeInstancesResponse{Xmlns: xmlns, RequestID: "req-instances", NextToken: next, Reservations: []xmlReservationItem{}}
	for i, in := range hits[from:to] {
		x := xmlInstance{ID: in.ID, ImageID: "ami-0fake", State: xmlInstanceState{16, "running"}, PrivateDNSName: in.PrivateDNSName,
			Type: in.Type, AZ: in.AZ, SubnetID: in.SubnetID, VPCID: in.VPCID, PrivateIP: in.PrivateIP,
			Metadata: in.Metadata.xml("applied"), Tags: xmlTags(in.Tags)}
		if in.InstanceProfileARN != "" {
			x.Profile = &xmlProfileRef{ARN: in.InstanceProfileARN, ID: "AIPAFAKE" + strconv.Itoa(from+i)}
		}
		for _, e := range s.instanceENIs(in.ID) {
			xe := xmlInstanceENI{ID: e.ID, SubnetID: e.SubnetID, VPCID: in.VPCID, Description: e.Description, OwnerID: "111122223333",
				Status: "in-use", PrimaryIP: e.PrimaryIP, Type: e.Type,
				Attachment: xmlAttachment{AttachmentID: "eni-attach-" + e.ID, DeviceIndex: e.DeviceIndex, Status: "attached"}}
			if xe.Type == "" {
				xe.Type = "interface"
			}
			if e.PrimaryIP != "" {
				xe.PrivateIPs = append(xe.PrivateIPs, xmlPrivateIP{Address: e.PrimaryIP, Primary: true})
			}
			for _, ip := range e.SecondaryIPs {
				xe.PrivateIPs = append(xe.PrivateIPs, xmlPrivateIP{Address: ip})
			}
			for _, p := range e.Prefixes {
				xe.Prefixes = append(xe.Prefixes, xmlPrefix{p})
			}
			x.ENIs = append(x.ENIs, xe)
		}
		resp.Reservations = append(resp.Reservations, xmlReservationItem{ReservationID: "r-" + in.ID, OwnerID: "111122223333", Instances: []xmlInstance{x}})
	}
	return resp, nil
}

// instanceENIs returns the ENIs attached to instance id, by device index.
func (s *Server) instanceENIs(id string) []ENI {
	var out []ENI
	for _, e := range s.ENIs {
		if e.InstanceID == id {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b ENI) int { return a.DeviceIndex - b.DeviceIndex })
	return out
}

type modifyMetadataResponse struct {
	XMLName    xml.Name           `xml:"ModifyInstanceMetadataOptionsResponse"`
	Xmlns      string             `xml:"xmlns,attr"`
	RequestID  string             `xml:"requestId"`
	InstanceID string             `xml:"instanceId"`
	Options    xmlMetadataOptions `xml:"instanceMetadataOptions"`
}

// modifyInstanceMetadataOptions changes the running instance's IMDS settings (only what the
// request names) and answers with the new settings in state "pending", as EC2 does.
func (s *Server) modifyInstanceMetadataOptions(form url.Values) (any, *apiError) {
	id := form.Get("InstanceId")
	if id == "" {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId"}
	}
	i := slices.IndexFunc(s.Instances, func(x Instance) bool { return x.ID == id })
	if i < 0 {
		return nil, &apiError{http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id)}
	}
	m := s.Instances[i].Metadata.withDefaults()
	if v := form.Get("HttpEndpoint"); v != "" {
		if v != "enabled" && v != "disabled" {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpEndpoint is invalid", v)}
		}
		m.HTTPEndpoint = v
	}
	if v := form.Get("HttpTokens"); v != "" {
		if v != "optional" && v != "required" {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpTokens is invalid", v)}
		}
		m.HTTPTokens = v
	}
	if v := form.Get("HttpPutResponseHopLimit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter HttpPutResponseHopLimit is invalid", v)}
		}
		m.HopLimit = n
	}
	s.Instances[i].Metadata = m
	return modifyMetadataResponse{Xmlns: xmlns, RequestID: "req-imds", InstanceID: id, Options: m.xml("pending")}, nil
}

type createReservationResponse struct {
	XMLName     xml.Name       `xml:"CreateSubnetCidrReservationResponse"`
	Xmlns       string         `xml:"xmlns,attr"`
	RequestID   string         `xml:"requestId"`
	Reservation xmlReservation `xml:"subnetCidrReservation"`
}

// createSubnetCidrReservation adds a reservation after the checks EC2 makes: a known subnet,
// a CIDR inside it, a known type, and no overlap with the subnet's other reservations.
func (s *Server) createSubnetCidrReservation(form url.Values) (any, *apiError) {
	id, cidr, typ := form.Get("SubnetId"), form.Get("Cidr"), form.Get("ReservationType")
	for name, v := range map[string]string{"SubnetId": id, "Cidr": cidr, "ReservationType": typ} {
		if v == "" {
			return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter " + name}
		}
	}
	if typ != "prefix" && typ != "explicit" {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter reservationType is invalid", typ)}
	}
	i := slices.IndexFunc(s.Subnets, func(x Subnet) bool { return x.ID == id })
	if i < 0 {
		return nil, &apiError{http.StatusBadRequest, "InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", id)}
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || p != p.Masked() {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter cidr is invalid", cidr)}
	}
	sub, err := netip.ParsePrefix(s.Subnets[i].CIDR)
	if err != nil || !sub.Contains(p.Addr()) || p.Bits() < sub.Bits() {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The CIDR %s is not within the subnet %s", cidr, id)}
	}
	for _, r := range s.Reservations {
		if q, err := netip.ParsePrefix(r.CIDR); err == nil && r.SubnetID == id && q.Overlaps(p) {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The CIDR %s overlaps the reservation %s", cidr, r.ID)}
		}
	}
	s.nextID++
	r := Reservation{ID: fmt.Sprintf("scr-%017x", s.nextID), SubnetID: id, CIDR: cidr, Type: typ}
	s.Reservations = append(s.Reservations, r)
	return createReservationResponse{Xmlns: xmlns, RequestID: "req-create-scr", Reservation: xmlReservation{ID: r.ID, SubnetID: id,
		CIDR: cidr, Type: typ, OwnerID: "111122223333", Description: form.Get("Description")}}, nil
}
