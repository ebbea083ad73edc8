package kube

import (
	"sort"
	"time"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Names the VPC CNI and the VPC resource controller put on nodes and pods.
const (
	// PodENIResource is the extended resource for branch ENIs (security groups for pods).
	PodENIResource = "vpc.amazonaws.com/pod-eni"
	resourcePods   = "pods"

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

	// maxAWSNodeCandidates bounds the aws-node pods kept while a list streams by (a rollout
	// shows two; only a broken selector matches more).
	maxAWSNodeCandidates = 16
)

// tally reduces the pods of a list as they stream by, keeping counts and the few aws-node
// pods, never the list. Pure: no I/O.
type tally struct {
	nodeName, awsNS, awsContainer string
	awsSel                        selector

	k       nodestate.Kube
	awsNode []awsNodeCandidate
}

// awsNodeCandidate is what pickAWSNode and the env reduction need of an aws-node pod.
type awsNodeCandidate struct {
	terminating bool
	running     bool
	created     time.Time
	found       bool // the container was there
	image       string
	env         map[string]string
}

func newTally(nodeName, awsNS string, awsSel selector, awsContainer string) *tally {
	return &tally{nodeName: nodeName, awsNS: awsNS, awsSel: awsSel, awsContainer: awsContainer,
		k: nodestate.Kube{FromAPI: true, NodeName: nodeName}}
}

func (t *tally) add(p *podObject) {
	// The API server filters by spec.nodeName already; checking again keeps a fake or a
	// proxy that ignores field selectors from making us count the whole cluster.
	if p.Spec.NodeName != t.nodeName {
		return
	}
	if p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
		return
	}
	t.k.Pods++
	switch {
	case p.Spec.HostNetwork:
		t.k.HostNetworkPods++
	case p.Status.PodIP == "":
		t.k.PendingSandboxPods++
	}
	t.k.PodENIRequests = clampInt(int64(t.k.PodENIRequests) + int64(podENIRequest(p)))
	if p.Metadata.Namespace == t.awsNS && t.awsSel.matches(p.labels()) && len(t.awsNode) < maxAWSNodeCandidates {
		a := awsNodeCandidate{
			terminating: p.Metadata.DeletionTimestamp != nil,
			running:     p.Status.Phase == podRunning,
			created:     p.Metadata.CreationTimestamp,
		}
		for i := range p.Spec.Containers {
			if c := &p.Spec.Containers[i]; c.Name == t.awsContainer {
				a.found, a.image, a.env = true, c.Image, literalEnv(c.env())
				break
			}
		}
		t.awsNode = append(t.awsNode, a)
	}
}

// finish adds the Node's facts (node may be nil) and returns the summary.
func (t *tally) finish(node *nodeObject) *nodestate.Kube {
	k := t.k
	if node != nil {
		if node.Metadata.Name != "" {
			k.NodeName = node.Metadata.Name
		}
		k.CreationTime = node.Metadata.CreationTimestamp
		k.Zone = firstLabel(node.Metadata.Labels, labelZone, labelZoneBeta)
		k.InstanceTypeLbl = firstLabel(node.Metadata.Labels, labelInstanceType, labelInstanceTypeBeta)
		k.CapacityPods = quantityInt(node.Status.Capacity, resourcePods)
		k.AllocatablePods = quantityInt(node.Status.Allocatable, resourcePods)
		k.PodENICapacity = quantityInt(node.Status.Capacity, PodENIResource)
	}
	if p := pickAWSNode(t.awsNode); p != nil && p.found {
		k.AWSNodeImage = p.image
		k.AWSNodeEnv = p.env
	}
	if node != nil {
		k.ENIConfigName = eniConfigName(node, k.AWSNodeEnv)
	}
	return &k
}

func firstLabel(m map[string]string, keys ...string) string {
	for _, key := range keys {
		if v := m[key]; v != "" {
			return v
		}
	}
	return ""
}

// quantityInt reads an integer resource; absent, malformed or out of int32 range gives 0.
func quantityInt(rl map[string]quantity, name string) int {
	q, ok := rl[name]
	if !ok {
		return 0
	}
	v, ok := q.Value() // rounds fractions up, as the scheduler does for extended resources
	if !ok || v < 0 || v > 1<<31-1 {
		return 0
	}
	return int(v)
}

// podENIRequest is the pod's effective request of vpc.amazonaws.com/pod-eni the way the
// scheduler counts it: the larger of the containers' sum and the largest init container.
// A container that sets only a limit requests that limit (extended resources default
// request to limit).
func podENIRequest(p *podObject) int {
	one := func(c *container) int {
		if q, ok := c.Resources.Requests.get(PodENIResource); ok {
			v, _ := q.Value()
			return clampInt(v)
		}
		if q, ok := c.Resources.Limits.get(PodENIResource); ok {
			v, _ := q.Value()
			return clampInt(v)
		}
		return 0
	}
	sum := 0
	for i := range p.Spec.Containers {
		sum = clampInt(int64(sum) + int64(one(&p.Spec.Containers[i])))
	}
	for i := range p.Spec.InitContainers {
		if v := one(&p.Spec.InitContainers[i]); v > sum {
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
func pickAWSNode(pods []awsNodeCandidate) *awsNodeCandidate {
	if len(pods) == 0 {
		return nil
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if a.terminating != b.terminating {
			return !a.terminating
		}
		if a.running != b.running {
			return a.running
		}
		return b.created.Before(a.created)
	})
	return &pods[0]
}

// literalEnv keeps env entries with a literal value. Entries taken from ConfigMaps,
// Secrets or fields (valueFrom) are omitted: their value is not in the pod spec, and
// guessing would mislead the diagnosis. A later entry with the same name wins, as in the
// kubelet.
func literalEnv(env []envVar) map[string]string {
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
func eniConfigName(node *nodeObject, env map[string]string) string {
	labels, annotations := node.Metadata.Labels, node.Metadata.Annotations
	if v, ok := labels[labelExternalENIConfig]; ok {
		return v
	}
	annKey := defaultENIConfigKey
	if v := env[envENIConfigAnnotationDef]; v != "" {
		annKey = v
	}
	if v, ok := annotations[annKey]; ok {
		return v
	}
	labelKey := defaultENIConfigKey
	if v := env[envENIConfigLabelDef]; v != "" {
		labelKey = v
	}
	return labels[labelKey]
}
