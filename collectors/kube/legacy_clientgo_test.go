package kube

import (
	"context"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// legacyFetch is the previous implementation of Fetch, kept as the reference the new client
// is compared with: client-go's typed clientset and k8s.io/api types, the same two requests,
// the same reduction (this repository's code before the agent dropped client-go). Tests run
// both against the same API server, the real one included, and want the same answer.
func legacyFetch(ctx context.Context, cs kubernetes.Interface, nodeName string) (*nodestate.Kube, error) {
	node, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("spec.nodeName", nodeName).String(),
		ResourceVersion: "0",
	})
	if err != nil {
		return nil, err
	}
	sel, err := labels.Parse(DefaultAWSNodeLabel)
	if err != nil {
		return nil, err
	}
	return legacySummarize(node, list.Items, nodeName, DefaultAWSNodeNamespace, sel, DefaultAWSNodeContainer), nil
}

func legacySummarize(node *corev1.Node, pods []corev1.Pod, nodeName, awsNS string, awsSel labels.Selector, awsContainer string) *nodestate.Kube {
	k := &nodestate.Kube{FromAPI: true, NodeName: nodeName}
	k.NodeName = node.Name
	k.CreationTime = node.CreationTimestamp.Time
	k.Zone = firstLabel(node.Labels, labelZone, labelZoneBeta)
	k.InstanceTypeLbl = firstLabel(node.Labels, labelInstanceType, labelInstanceTypeBeta)
	k.CapacityPods = legacyQuantityInt(node.Status.Capacity, corev1.ResourcePods)
	k.AllocatablePods = legacyQuantityInt(node.Status.Allocatable, corev1.ResourcePods)
	k.PodENICapacity = legacyQuantityInt(node.Status.Capacity, PodENIResource)

	var awsNode []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName != nodeName || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		k.Pods++
		switch {
		case p.Spec.HostNetwork:
			k.HostNetworkPods++
		case p.Status.PodIP == "":
			k.PendingSandboxPods++
		}
		k.PodENIRequests += legacyPodENIRequest(p)
		if p.Namespace == awsNS && awsSel.Matches(labels.Set(p.Labels)) {
			awsNode = append(awsNode, p)
		}
	}
	sort.SliceStable(awsNode, func(i, j int) bool {
		a, b := awsNode[i], awsNode[j]
		if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) {
			return a.DeletionTimestamp == nil
		}
		if (a.Status.Phase == corev1.PodRunning) != (b.Status.Phase == corev1.PodRunning) {
			return a.Status.Phase == corev1.PodRunning
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	})
	if len(awsNode) > 0 {
		for _, c := range awsNode[0].Spec.Containers {
			if c.Name != awsContainer {
				continue
			}
			k.AWSNodeImage = c.Image
			k.AWSNodeEnv = map[string]string{}
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					delete(k.AWSNodeEnv, e.Name)
					continue
				}
				k.AWSNodeEnv[e.Name] = e.Value
			}
			break
		}
	}
	// ENIConfig, in ipamd's order.
	if v, ok := node.Labels[labelExternalENIConfig]; ok {
		k.ENIConfigName = v
		return k
	}
	annKey, labelKey := defaultENIConfigKey, defaultENIConfigKey
	if v := k.AWSNodeEnv[envENIConfigAnnotationDef]; v != "" {
		annKey = v
	}
	if v, ok := node.Annotations[annKey]; ok {
		k.ENIConfigName = v
		return k
	}
	if v := k.AWSNodeEnv[envENIConfigLabelDef]; v != "" {
		labelKey = v
	}
	k.ENIConfigName = node.Labels[labelKey]
	return k
}

func legacyQuantityInt(rl corev1.ResourceList, name corev1.ResourceName) int {
	q, ok := rl[name]
	if !ok {
		return 0
	}
	v, ok := q.AsInt64()
	if !ok {
		v = q.Value()
	}
	if v < 0 || v > 1<<31-1 {
		return 0
	}
	return int(v)
}

func legacyPodENIRequest(p *corev1.Pod) int {
	one := func(c corev1.Container) int {
		for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			if q, ok := rl[PodENIResource]; ok {
				return clampInt(q.Value())
			}
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

// legacyClient is client-go's clientset for an API server URL (plain HTTP in unit tests).
func legacyClient(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
