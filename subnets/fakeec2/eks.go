package fakeec2

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// EKS speaks REST JSON: the operation is the method and path (EKS API reference), members
// travel in the path, the query string or a JSON body, timestamps are epoch seconds, errors
// carry their code in the x-amzn-ErrorType header.

// PodIdentityAssociation is an EKS Pod Identity association.
type PodIdentityAssociation struct {
	Cluster, ID, Namespace, ServiceAccount, RoleARN string
}

// ARN is the association's ARN in region.
func (a PodIdentityAssociation) ARN(region string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:podidentityassociation/%s/%s", region, Account, a.Cluster, a.ID)
}

// Addon is an installed EKS add-on; Updates records every UpdateAddon call's parameters.
// Version is the installed version, changed by an update that names one.
type Addon struct {
	Cluster, Name, Version string
	Updates                []map[string]string
}

// Cluster is an EKS cluster (DescribeCluster): its name and Kubernetes version.
type Cluster struct {
	Name, Version string
}

// AddonVersion is one published version of an EKS add-on (DescribeAddonVersions) and the
// cluster versions it supports; Default lists those it is the default version for. The fake
// lists versions in the order they are given.
type AddonVersion struct {
	Addon, Version  string
	ClusterVersions []string
	Default         []string
}

const eksCreated = 1767607200 // 2026-01-05T10:00:00Z

func (s *Server) serveEKS(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeJSONError(w, apiError{http.StatusBadRequest, "InvalidRequestException", err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method == http.MethodGet && r.URL.Path == "/addons/supported-versions" {
		s.calls["DescribeAddonVersions"]++
		s.requests = append(s.requests, url.Values{"Action": {"DescribeAddonVersions"}, "Path": {r.URL.Path}, "Query": {r.URL.RawQuery}})
		s.describeAddonVersions(w, r)
		return
	}
	if len(parts) < 2 || parts[0] != "clusters" {
		writeEKSError(w, apiError{http.StatusNotFound, "NotFoundException", "no such resource " + r.URL.Path})
		return
	}
	cluster := parts[1]
	var op string
	switch {
	case r.Method == http.MethodGet && len(parts) == 2:
		op = "DescribeCluster"
	case r.Method == http.MethodGet && len(parts) == 3 && parts[2] == "pod-identity-associations":
		op = "ListPodIdentityAssociations"
	case r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "pod-identity-associations":
		op = "DescribePodIdentityAssociation"
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "addons" && parts[4] == "update":
		op = "UpdateAddon"
	default:
		writeEKSError(w, apiError{http.StatusNotFound, "NotFoundException", fmt.Sprintf("no operation for %s %s", r.Method, r.URL.Path)})
		return
	}
	s.calls[op]++
	s.requests = append(s.requests, url.Values{"Action": {op}, "Path": {r.URL.Path}, "Query": {r.URL.RawQuery}, "Body": {string(body)}})
	switch op {
	case "DescribeCluster":
		s.describeCluster(w, r, cluster)
	case "ListPodIdentityAssociations":
		s.listPodIdentities(w, r, cluster)
	case "DescribePodIdentityAssociation":
		i := slices.IndexFunc(s.PodIdentities, func(a PodIdentityAssociation) bool { return a.Cluster == cluster && a.ID == parts[3] })
		if i < 0 {
			writeEKSError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("No Pod Identity Association found with id %s.", parts[3])})
			return
		}
		a := s.PodIdentities[i]
		writeJSON(w, "application/json", map[string]any{"association": map[string]any{
			"clusterName": a.Cluster, "namespace": a.Namespace, "serviceAccount": a.ServiceAccount, "roleArn": a.RoleARN,
			"associationArn": a.ARN(regionOf(r)), "associationId": a.ID, "tags": map[string]string{},
			"createdAt": eksCreated, "modifiedAt": eksCreated,
		}})
	case "UpdateAddon":
		s.updateAddon(w, cluster, parts[3], body)
	}
}

func (s *Server) listPodIdentities(w http.ResponseWriter, r *http.Request, cluster string) {
	q := r.URL.Query()
	if mr := q.Get("maxResults"); mr != "" {
		if n, err := strconv.Atoi(mr); err != nil || n < 1 || n > 100 {
			writeEKSError(w, apiError{http.StatusBadRequest, "InvalidParameterException", "maxResults must be between 1 and 100"})
			return
		}
	}
	out := []map[string]string{}
	for _, a := range s.PodIdentities {
		if a.Cluster != cluster || (q.Has("namespace") && a.Namespace != q.Get("namespace")) ||
			(q.Has("serviceAccount") && a.ServiceAccount != q.Get("serviceAccount")) {
			continue
		}
		out = append(out, map[string]string{"clusterName": a.Cluster, "namespace": a.Namespace, "serviceAccount": a.ServiceAccount,
			"associationArn": a.ARN(regionOf(r)), "associationId": a.ID})
	}
	writeJSON(w, "application/json", map[string]any{"associations": out})
}

func (s *Server) updateAddon(w http.ResponseWriter, cluster, name string, body []byte) {
	var in map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			writeEKSError(w, apiError{http.StatusBadRequest, "InvalidRequestException", err.Error()})
			return
		}
	}
	i := slices.IndexFunc(s.Addons, func(a Addon) bool { return a.Cluster == cluster && a.Name == name })
	if i < 0 {
		writeEKSError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("No addon: %s found in cluster: %s", name, cluster)})
		return
	}
	if v, ok := in["addonVersion"].(string); ok {
		if err := s.checkAddonVersion(cluster, name, v); err != nil {
			writeEKSError(w, *err)
			return
		}
	}
	params := map[string]string{}
	var list []map[string]string
	for _, k := range []struct{ member, typ string }{
		{"addonVersion", "AddonVersion"}, {"serviceAccountRoleArn", "ServiceAccountRoleArn"},
		{"resolveConflicts", "ResolveConflicts"}, {"configurationValues", "ConfigurationValues"},
	} {
		v, ok := in[k.member].(string)
		if !ok {
			continue
		}
		if k.member == "resolveConflicts" && v != "OVERWRITE" && v != "NONE" && v != "PRESERVE" {
			writeEKSError(w, apiError{http.StatusBadRequest, "InvalidParameterException", "resolveConflicts must be one of OVERWRITE, NONE, PRESERVE"})
			return
		}
		params[k.member] = v
		list = append(list, map[string]string{"type": k.typ, "value": v})
	}
	s.Addons[i].Updates = append(s.Addons[i].Updates, params)
	if v := params["addonVersion"]; v != "" {
		s.Addons[i].Version = v
	}
	s.nextID++
	writeJSON(w, "application/json", map[string]any{"update": map[string]any{
		"id": fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextID), "status": "InProgress", "type": "AddonUpdate",
		"params": list, "createdAt": eksCreated, "errors": []any{},
	}})
}

// describeCluster answers with the fields of EKS's Cluster that a script may read.
func (s *Server) describeCluster(w http.ResponseWriter, r *http.Request, name string) {
	i := slices.IndexFunc(s.Clusters, func(c Cluster) bool { return c.Name == name })
	if i < 0 {
		writeEKSError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("No cluster found for name: %s.", name)})
		return
	}
	c := s.Clusters[i]
	writeJSON(w, "application/json", map[string]any{"cluster": map[string]any{
		"name": c.Name, "arn": fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", regionOf(r), Account, c.Name),
		"createdAt": eksCreated, "version": c.Version, "status": "ACTIVE", "platformVersion": "eks.1",
		"roleArn": Role{Name: c.Name + "-cluster-role"}.ARN(), "tags": map[string]string{},
		"kubernetesNetworkConfig": map[string]any{"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
	}})
}

// describeAddonVersions lists the published versions of each add-on, filtered by addonName
// and kubernetesVersion (then each version's compatibilities name only that version), as
// GET /addons/supported-versions does. The versions are one page: maxResults is checked
// (1 to 100) but the fake's lists are shorter.
func (s *Server) describeAddonVersions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if mr := q.Get("maxResults"); mr != "" {
		if n, err := strconv.Atoi(mr); err != nil || n < 1 || n > 100 {
			writeEKSError(w, apiError{http.StatusBadRequest, "InvalidParameterException", "maxResults must be between 1 and 100"})
			return
		}
	}
	name, k8s := q.Get("addonName"), q.Get("kubernetesVersion")
	var names []string
	versions := map[string][]map[string]any{}
	for _, v := range s.AddonVersions {
		if name != "" && v.Addon != name {
			continue
		}
		var compat []map[string]any
		for _, cv := range v.ClusterVersions {
			if k8s != "" && cv != k8s {
				continue
			}
			compat = append(compat, map[string]any{"clusterVersion": cv, "platformVersions": []string{"*"}, "defaultVersion": slices.Contains(v.Default, cv)})
		}
		if len(compat) == 0 {
			continue
		}
		if _, seen := versions[v.Addon]; !seen {
			names = append(names, v.Addon)
		}
		versions[v.Addon] = append(versions[v.Addon], map[string]any{"addonVersion": v.Version, "architecture": []string{"amd64", "arm64"},
			"compatibilities": compat, "requiresConfiguration": false, "requiresIamPermissions": false})
	}
	addons := []map[string]any{}
	for _, n := range names {
		addons = append(addons, map[string]any{"addonName": n, "type": "networking", "addonVersions": versions[n], "publisher": "eks", "owner": "aws"})
	}
	writeJSON(w, "application/json", map[string]any{"addons": addons})
}

// checkAddonVersion refuses a version the add-on does not publish, or one that does not
// support the cluster's Kubernetes version, when the fake knows them.
func (s *Server) checkAddonVersion(cluster, addon, version string) *apiError {
	known := false
	for _, v := range s.AddonVersions {
		if v.Addon != addon {
			continue
		}
		known = true
		if v.Version != version {
			continue
		}
		i := slices.IndexFunc(s.Clusters, func(c Cluster) bool { return c.Name == cluster })
		if i < 0 || slices.Contains(v.ClusterVersions, s.Clusters[i].Version) {
			return nil
		}
		return &apiError{http.StatusBadRequest, "InvalidParameterException",
			fmt.Sprintf("Addon version %s does not support Kubernetes version %s", version, s.Clusters[i].Version)}
	}
	if !known {
		return nil
	}
	return &apiError{http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf("Addon version %s is not a published version of %s", version, addon)}
}

func writeEKSError(w http.ResponseWriter, e apiError) {
	b, _ := json.Marshal(map[string]string{"message": e.message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}
