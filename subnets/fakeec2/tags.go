package fakeec2

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The two EC2 writes the printed fixes make besides reservations and metadata options:
// CreateTags (subnet discovery's kubernetes.io/role/cni tag) and DeleteNetworkInterface
// (leaked ENIs). Parameters and answers follow the EC2 API reference: CreateTags takes
// ResourceId.N and Tag.N.Key/Tag.N.Value, both answer <return>true</return>.

type xmlReturn struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
}

func returnTrue(action string) xmlReturn {
	return xmlReturn{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns, RequestID: "req-" + strings.ToLower(action), Return: true}
}

// createTags adds or overwrites tags on subnets, network interfaces and instances. Every
// resource must exist before any is tagged, as in EC2 (the call is all or nothing).
func (s *Server) createTags(form url.Values) (any, *apiError) {
	ids := list(form, "ResourceId")
	if len(ids) == 0 {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter resourceIdSet"}
	}
	tags := map[string]string{}
	for i := 1; ; i++ {
		k, ok := form["Tag."+strconv.Itoa(i)+".Key"]
		if !ok {
			break
		}
		if len(k) == 0 || k[0] == "" {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", "Tag keys must not be empty"}
		}
		if strings.HasPrefix(strings.ToLower(k[0]), "aws:") {
			return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use"}
		}
		tags[k[0]] = form.Get("Tag." + strconv.Itoa(i) + ".Value")
	}
	if len(tags) == 0 {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter tagSet"}
	}
	var targets []*map[string]string
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "subnet-"):
			i := slices.IndexFunc(s.Subnets, func(x Subnet) bool { return x.ID == id })
			if i < 0 {
				return nil, &apiError{http.StatusBadRequest, "InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", id)}
			}
			targets = append(targets, &s.Subnets[i].Tags)
		case strings.HasPrefix(id, "eni-"):
			i := slices.IndexFunc(s.ENIs, func(x ENI) bool { return x.ID == id })
			if i < 0 {
				return nil, &apiError{http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id)}
			}
			targets = append(targets, &s.ENIs[i].Tags)
		case strings.HasPrefix(id, "i-"):
			i := slices.IndexFunc(s.Instances, func(x Instance) bool { return x.ID == id })
			if i < 0 {
				return nil, &apiError{http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id)}
			}
			targets = append(targets, &s.Instances[i].Tags)
		default:
			return nil, &apiError{http.StatusBadRequest, "InvalidID", fmt.Sprintf("The ID '%s' is not valid", id)}
		}
	}
	for _, m := range targets {
		if *m == nil {
			*m = map[string]string{}
		}
		for k, v := range tags {
			(*m)[k] = v
		}
	}
	return returnTrue("CreateTags"), nil
}

// deleteNetworkInterface deletes a detached ENI; an attached one is refused with the error
// EC2 gives ("Network interface 'eni-...' is currently in use.", InvalidParameterValue).
func (s *Server) deleteNetworkInterface(form url.Values) (any, *apiError) {
	id := form.Get("NetworkInterfaceId")
	if id == "" {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter NetworkInterfaceId"}
	}
	i := slices.IndexFunc(s.ENIs, func(x ENI) bool { return x.ID == id })
	if i < 0 {
		return nil, &apiError{http.StatusBadRequest, "InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id)}
	}
	if s.ENIs[i].InstanceID != "" || (s.ENIs[i].Status != "" && s.ENIs[i].Status != "available") {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Network interface '%s' is currently in use.", id)}
	}
	s.ENIs = slices.Delete(s.ENIs, i, i+1)
	return returnTrue("DeleteNetworkInterface"), nil
}
