package kube

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Names the VPC CNI and the VPC resource controller put on nodes and pods.
const (
	// PodENIResource is the extended resource for branch ENIs (security groups for pods).
	PodENIResource corev1.ResourceName = "vpc.amazonaws.com/pod-eni"

	labelZone             = "topology.kubernetes.io/zone"
	labelZoneBeta         = "failure-domain.beta.kubernetes.io/zone"
	labelInstanceType     = "node.kubernetes.io/instance-type"
	labelInstanceTypeBeta = "beta.kubernetes.io/instance-type"

	// ENIConfig selection, in ipamd's order of precedence: the externally managed label, then
	// the annotation (key overridable by ENI_CONFIG_ANNOTATION_DEF), then the label (key
	// overridable by ENI_CONFIG_LABEL_DEF).
	labelExternalENIConfig    = "vpc.amazonaws.com/externalEniConfig"
	defaultENIConfigKey       = "k8s.amazonaws.com/eniConfig"
	envENIConfigAnnotationDef = "ENI_CONFIG_ANNOTATION_DEF"
	envENIConfigLabelDef      = "ENI_CONFIG_LABEL_DEF"
)

// summarize reduces the Node and the pods listed for it to nodestate.Kube. Pure: no I/O.
func summarize(node *corev1.Node, pods []corev1.Pod, nodeName, awsNS string, awsSel labels.Selector, awsContainer string) *nodestate.Kube {
	k := &nodestate.Kube{FromAPI: true, NodeName: nodeName}
	if node != nil {
		k.NodeName = node.Name
		k.CreationTime = node.CreationTimestamp.Time
		k.Zone = firstLabel(node.Labels, labelZone, labelZoneBeta)
		k.InstanceTypeLbl = firstLabel(node.Labels, labelInstanceType, labelInstanceTypeBeta)
		k.CapacityPods = quantityInt(node.Status.Capacity, corev1.ResourcePods)
		k.AllocatablePods = quantityInt(node.Status.Allocatable, corev1.ResourcePods)
		k.PodENICapacity = quantityInt(node.Status.Capacity, PodENIResource)
	}

	var awsNode []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		// The API server filters by spec.nodeName already; checking again keeps a fake or a
		// proxy that ignores field selectors from making us count the whole cluster.
		if p.Spec.NodeName != nodeName {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		k.Pods++
		switch {
		case p.Spec.HostNetwork:
			k.HostNetworkPods++
		case p.Status.PodIP == "":
			k.PendingSandboxPods++
		}
		k.PodENIRequests += podENIRequest(p)
		if p.Namespace == awsNS && awsSel.Matches(labels.Set(p.Labels)) {
			awsNode = append(awsNode, p)
		}
	}

	if p := pickAWSNode(awsNode); p != nil {
		for _, c := range p.Spec.Containers {
			if c.Name != awsContainer {
				continue
			}
			k.AWSNodeImage = c.Image
			k.AWSNodeEnv = literalEnv(c.Env)
			break
		}
	}
	if node != nil {
		k.ENIConfigName = eniConfigName(node, k.AWSNodeEnv)
	}
	return k
}

func firstLabel(m map[string]string, keys ...string) string {
	for _, key := range keys {
		if v := m[key]; v != "" {
			return v
		}
	}
	return ""
}

// quantityInt reads an integer resource; absent or out of int range gives 0.
func quantityInt(rl corev1.ResourceList, name corev1.ResourceName) int {
	q, ok := rl[name]
	if !ok {
		return 0
	}
	v, ok := q.AsInt64()
	if !ok {
		v = q.Value() // rounds fractions up, as the scheduler does for extended resources
	}
	if v < 0 || v > 1<<31-1 {
		return 0
	}
	return int(v)
}

// podENIRequest is the pod's effective request of vpc.amazonaws.com/pod-eni the way the
// scheduler counts it: the larger of the containers' sum and the largest init container.
// A container that sets only a limit requests that limit (extended resources default
// request to limit).
func podENIRequest(p *corev1.Pod) int {
	one := func(c corev1.Container) int {
		if q, ok := c.Resources.Requests[PodENIResource]; ok {
			return clampInt(q.Value())
		}
		if q, ok := c.Resources.Limits[PodENIResource]; ok {
			return clampInt(q.Value())
		}
		return 0
	}
	sum := 0
	for _, c := range p.Spec.Containers {
		sum += one(c)
	}
	for _, c := range p.Spec.InitContainers {
		if v := one(c); v > sum {
			sum = v
		}
	}
	return sum
}

func clampInt(v int64) int {
	if v < 0 {
		return 0
	}
	if v > 1<<20 {
		return 1 << 20
	}
	return int(v)
}

// pickAWSNode chooses among aws-node pods on this node (a rollout briefly shows two): not
// terminating first, then Running, then the newest.
func pickAWSNode(pods []*corev1.Pod) *corev1.Pod {
	if len(pods) == 0 {
		return nil
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
			return a.DeletionTimestamp == nil
		}
		if (a.Status.Phase == corev1.PodRunning) != (b.Status.Phase == corev1.PodRunning) {
			return a.Status.Phase == corev1.PodRunning
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	})
	return pods[0]
}

// literalEnv keeps env entries with a literal value. Entries taken from ConfigMaps,
// Secrets or fields (valueFrom) are omitted: their value is not in the pod spec, and
// guessing would mislead the diagnosis. A later entry with the same name wins, as in the
// kubelet.
func literalEnv(env []corev1.EnvVar) map[string]string {
	out := make(map[string]string, len(env))
	for _, e := range env {
		if e.ValueFrom != nil {
			delete(out, e.Name)
			continue
		}
		out[e.Name] = e.Value
	}
	return out
}

// eniConfigName applies ipamd's precedence. Empty when the node names none (ipamd then uses
// the ENIConfig called "default", if custom networking is on).
func eniConfigName(node *corev1.Node, env map[string]string) string {
	if v, ok := node.Labels[labelExternalENIConfig]; ok {
		return v
	}
	annKey := defaultENIConfigKey
	if v := env[envENIConfigAnnotationDef]; v != "" {
		annKey = v
	}
	if v, ok := node.Annotations[annKey]; ok {
		return v
	}
	labelKey := defaultENIConfigKey
	if v := env[envENIConfigLabelDef]; v != "" {
		labelKey = v
	}
	return node.Labels[labelKey]
}
