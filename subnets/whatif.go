package subnets

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipamwatch/ipamwatch/forecast"
)

// Workload is what Kubernetes says about the cluster's nodes, for the what-if: each node's
// instance type, max pods and pods, and the aws-node container's env.
type Workload struct {
	// Nodes by instance id.
	Nodes map[string]WorkloadNode
	// Env is the aws-node container's env (nil when the DaemonSet could not be read).
	Env map[string]string
}

// WorkloadNode is one node.
type WorkloadNode struct {
	Name         string
	InstanceType string
	MaxPods      int
	// Pods are the running or pending pods on the pod network (host-network pods take no
	// address of the subnet).
	Pods int
}

// ReadWorkload lists the nodes and pods (paged) and reads the aws-node DaemonSet in namespace
// (usually kube-system). A DaemonSet that cannot be read leaves Env nil: the what-if then
// counts what nodes hold now instead of modelling their warm settings.
func ReadWorkload(ctx context.Context, client kubernetes.Interface, namespace string) (Workload, []string, error) {
	w := Workload{Nodes: map[string]WorkloadNode{}}
	var warnings []string
	byName := map[string]string{}
	opts := metav1.ListOptions{Limit: 500}
	for page := 0; ; page++ {
		if page >= maxPages {
			return w, nil, fmt.Errorf("listing nodes: more than %d pages", maxPages)
		}
		list, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return w, nil, fmt.Errorf("listing nodes: %w", err)
		}
		for _, n := range list.Items {
			id := instanceIDFromProviderID(n.Spec.ProviderID)
			if id == "" {
				continue
			}
			wn := WorkloadNode{Name: n.Name, InstanceType: n.Labels[corev1.LabelInstanceTypeStable]}
			if q, ok := n.Status.Capacity[corev1.ResourcePods]; ok {
				wn.MaxPods = int(q.Value())
			}
			w.Nodes[id] = wn
			byName[n.Name] = id
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	opts = metav1.ListOptions{Limit: 500}
	for page := 0; ; page++ {
		if page >= maxPages {
			return w, nil, fmt.Errorf("listing pods: more than %d pages", maxPages)
		}
		list, err := client.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return w, nil, fmt.Errorf("listing pods: %w", err)
		}
		for _, p := range list.Items {
			id, ok := byName[p.Spec.NodeName]
			if !ok || p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			n := w.Nodes[id]
			n.Pods++
			w.Nodes[id] = n
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	ds, err := client.AppsV1().DaemonSets(namespace).Get(ctx, "aws-node", metav1.GetOptions{})
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("reading daemonset %s/aws-node: %v (the what-if counts what nodes hold instead of modelling their warm settings)", namespace, err))
		return w, warnings, nil
	}
	w.Env = awsNodeEnv(ds)
	return w, warnings, nil
}

// awsNodeEnv is the literal env of the aws-node container (valueFrom entries are skipped).
func awsNodeEnv(ds *appsv1.DaemonSet) map[string]string {
	env := map[string]string{}
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name != "aws-node" {
			continue
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
	}
	return env
}

// WhatIf is a subnet's what-if for the node groups that hold addresses in it (docs/forecast.md).
type WhatIf struct {
	Basis forecast.Basis `json:"basis"`
	Free  int            `json:"free_addresses"`
	// Groups are the cluster's nodes with ENIs in the subnet, by instance type.
	Groups []WhatIfGroup `json:"groups"`
}

// WhatIfGroup is one instance type's nodes in the subnet.
type WhatIfGroup struct {
	InstanceType string `json:"instance_type"`
	Nodes        int    `json:"nodes"`
	// HeldPerNode is what the group's nodes hold in the subnet now, on average (EC2's view).
	HeldPerNode float64 `json:"held_per_node"`
	// NodesLikeNow is how many more nodes holding as much as the average one now fit.
	NodesLikeNow int `json:"nodes_like_now"`
	// Model is the claim model's what-if, current and alternative warm settings (absent when
	// the pods, max pods, settings or instance limits are unknown).
	Model *forecast.GroupHeadroom `json:"model,omitempty"`
	// Sentence says it for a person.
	Sentence string `json:"sentence"`
}

type nodeUse struct {
	held    int
	primary bool // the node's own (non-CNI) ENI is in the subnet: its node subnet
}

// computeWhatIf works out the what-if of an analysed subnet. limits gives each instance type's
// ENI and address limits (DescribeInstanceTypes); w may be empty (no Kubernetes access).
func computeWhatIf(a *Analysis, w Workload, limits map[string]InstanceType) *WhatIf {
	use := map[string]*nodeUse{}
	for i, e := range a.enis {
		if a.holders[i] != HolderClusterNode || e.InstanceID == "" {
			continue
		}
		u := use[e.InstanceID]
		if u == nil {
			u = &nodeUse{}
			use[e.InstanceID] = u
		}
		u.held += len(e.PrivateIPs) + forecast.AddressesPerPrefix*len(e.Prefixes)
		if !isCNIENI(e) {
			u.primary = true
		}
	}
	if len(use) == 0 {
		return nil
	}
	wi := &WhatIf{Basis: forecast.BasisExact, Free: a.Free}
	type key struct {
		typ     string
		primary bool
	}
	groups := map[key][]string{}
	for id, u := range use {
		typ := w.Nodes[id].InstanceType
		if typ == "" {
			typ = "unknown"
		}
		groups[key{typ, u.primary}] = append(groups[key{typ, u.primary}], id)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(groups[keys[i]]) != len(groups[keys[j]]) {
			return len(groups[keys[i]]) > len(groups[keys[j]])
		}
		return keys[i].typ < keys[j].typ
	})
	space := forecast.Space{SubnetID: a.Subnet.ID, Basis: forecast.BasisExact, Free: a.Free - a.FreePrefixOnly, FreeBlocks: a.FreePrefixBlocks}
	for _, k := range keys {
		ids := groups[k]
		g := WhatIfGroup{InstanceType: k.typ, Nodes: len(ids)}
		held, pods, maxPods := 0, 0, math.MaxInt
		for _, id := range ids {
			held += use[id].held
			pods += w.Nodes[id].Pods
			if mp := w.Nodes[id].MaxPods; mp > 0 {
				maxPods = min(maxPods, mp)
			} else {
				maxPods = 0
			}
		}
		g.HeldPerNode = float64(held) / float64(len(ids))
		if per := int(math.Ceil(g.HeldPerNode)); per > 0 {
			g.NodesLikeNow = space.Free / per
		}
		g.Sentence = fmt.Sprintf("%d more %s nodes holding %.0f addresses each, as the %d here do now", g.NodesLikeNow, k.typ, g.HeldPerNode, len(ids))
		if it, ok := limits[k.typ]; ok && w.Env != nil && maxPods > 0 && maxPods < math.MaxInt {
			s := forecast.RawSettingsFromEnv(w.Env).Resolve()
			if s.PrefixDelegation && it.Hypervisor == "xen" {
				s.PrefixDelegation = false // ipamd falls back to secondary IPs on Xen
			}
			grp := forecast.Group{
				Limits:   forecast.Limits{InstanceType: k.typ, ENIs: it.ENIs, IPv4PerENI: it.IPv4PerENI, MaxPods: maxPods},
				Settings: s, Nodes: len(ids), Pods: pods,
				NodeSubnet: k.primary, PodSubnet: !k.primary || !s.CustomNetworking,
			}
			if h, err := forecast.SubnetHeadroom(space, []forecast.Group{grp}); err == nil && len(h.Groups) == 1 {
				g.Model = &h.Groups[0]
				g.Sentence = h.Groups[0].Sentence()
			}
		}
		wi.Groups = append(wi.Groups, g)
	}
	return wi
}

// isCNIENI reports whether ipamd created the ENI (a node's secondary ENI): awsutils' createENI
// describes each as "aws-K8S-<instance id>".
func isCNIENI(e NetworkInterface) bool { return strings.HasPrefix(e.Description, cniDescriptionPrefix) }

// instanceTypesOf lists the instance types of the workload's nodes, sorted.
func instanceTypesOf(w Workload) []string {
	seen := map[string]bool{}
	for _, n := range w.Nodes {
		if n.InstanceType != "" {
			seen[n.InstanceType] = true
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// whatIfText writes a subnet's what-if lines.
func whatIfText(b *strings.Builder, wi *WhatIf) {
	if wi == nil {
		return
	}
	fmt.Fprintf(b, "  what-if (%s free addresses, basis %s):\n", fmt.Sprint(wi.Free), wi.Basis)
	for _, g := range wi.Groups {
		fmt.Fprintf(b, "    %s\n", g.Sentence)
	}
}
