package commandtest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/internal/kubetest"
)

// clusterYAML is the world's cluster-scoped and controller objects, applied with the real
// kubectl. The aws-node ClusterRole has the rules of amazon-vpc-cni-k8s v1.23.0
// charts/aws-vpc-cni/templates/clusterrole.yaml (without ANNOTATE_POD_IP), the ENIConfig CRD
// the names of charts/aws-vpc-cni/crds/customresourcedefinition.yaml, the DaemonSet the
// containers and labels of config/master/aws-k8s-cni.yaml; aws-node's env is the demo's.
const clusterYAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: eniconfigs.crd.k8s.amazonaws.com
spec:
  scope: Cluster
  group: crd.k8s.amazonaws.com
  names: {plural: eniconfigs, singular: eniconfig, kind: ENIConfig, listKind: ENIConfigList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              subnet: {type: string}
              securityGroups: {type: array, items: {type: string}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: aws-node, labels: {app.kubernetes.io/name: aws-node}}
rules:
- apiGroups: [crd.k8s.amazonaws.com]
  resources: [eniconfigs]
  verbs: [list, watch, get]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch, get]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, get]
- apiGroups: [""]
  resources: [nodes]
  verbs: [list, watch, get]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, list]
- apiGroups: [networking.k8s.aws]
  resources: [policyendpoints, clusterpolicyendpoints]
  verbs: [get, list, watch]
- apiGroups: [vpcresources.k8s.aws]
  resources: [cninodes]
  verbs: [get, list, watch, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: aws-node}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: aws-node}
subjects:
- {kind: ServiceAccount, name: aws-node, namespace: kube-system}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: aws-node
  namespace: kube-system
  annotations: {eks.amazonaws.com/role-arn: "{{IRSA_ROLE_ARN}}"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system, labels: {k8s-app: aws-node}}
spec:
  selector: {matchLabels: {k8s-app: aws-node}}
  template:
    metadata: {labels: {k8s-app: aws-node}}
    spec:
      serviceAccountName: aws-node
      hostNetwork: true
      containers:
      - name: aws-node
        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:{{CNI_VERSION}}-eksbuild.1
        env:
{{AWS_NODE_ENV}}
      - name: aws-eks-nodeagent
        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-network-policy-agent:v1.2.7-eksbuild.1
        env:
        - {name: ENABLE_IPv6, value: "true"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system, labels: {k8s-app: kube-proxy}}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      hostNetwork: true
      containers: [{name: kube-proxy, image: kube-proxy}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ipamwatch, namespace: ipamwatch, labels: {app.kubernetes.io/name: ipamwatch}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ipamwatch}}
    spec:
      hostNetwork: true
      containers:
      - name: ipamwatch
        image: ghcr.io/ipamwatch/ipamwatch:dev
        ports: [{name: http, containerPort: 9713}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: ipamwatch-subnets-6c9f8d7b5, namespace: ipamwatch, labels: {app.kubernetes.io/name: ipamwatch, app.kubernetes.io/component: subnets}}
spec:
  replicas: 0
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch, app.kubernetes.io/component: subnets}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ipamwatch, app.kubernetes.io/component: subnets}}
    spec:
      containers: [{name: subnets, image: ghcr.io/ipamwatch/ipamwatch:dev, args: [subnets]}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: ipamwatch-subnets, namespace: ipamwatch}
spec: {holderIdentity: ipamwatch-subnets-6c9f8d7b5-x7k2d, leaseDurationSeconds: 15}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f7c9b4, namespace: shop, labels: {app: web}}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`

// eniConfigYAML is applied once the CRD is established.
const eniConfigYAML = `apiVersion: crd.k8s.amazonaws.com/v1alpha1
kind: ENIConfig
metadata: {name: "{{ENICONFIG}}"}
spec:
  subnet: "{{POD_SUBNET}}"
  securityGroups: [sg-0demo0000000000001]
`

// awsNodeEnv is the aws-node container's env in the world: the demo's warm-conflict scenario
// (prefix delegation; its warm targets are what the warm_target_conflict finding is about),
// with the cluster name the EKS add-on sets.
func awsNodeEnv(t testing.TB, cluster string) map[string]string {
	t.Helper()
	spec, err := demo.Lookup("warm-conflict")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CLUSTER_NAME": cluster}
	for k, v := range spec.Env {
		env[k] = v
	}
	return env
}

// envLine is how the confirms' JSONPath prints one aws-node setting of the world: NAME=value.
func (w world) envLine(name string) string { return name + "=" + w.AWSNodeEnv[name] + "\n" }

func (w world) render(t testing.TB, tmpl string) string {
	t.Helper()
	env := w.AWSNodeEnv
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("        - {name: %s, value: %q}", k, env[k]))
	}
	lines = append(lines, "        - {name: MY_NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}")
	return strings.NewReplacer(
		"{{IRSA_ROLE_ARN}}", w.roleARN(w.IRSARole), "{{CNI_VERSION}}", w.CNIVersion, "{{AWS_NODE_ENV}}", strings.Join(lines, "\n"),
		"{{ENICONFIG}}", w.ENIConfig, "{{POD_SUBNET}}", w.PodSubnet,
	).Replace(tmpl)
}

// Pods of the world on the node.
const (
	awsNodePod   = "aws-node-7xk2p"
	ipamwatchPod = "ipamwatch-4hq9z"
	branchPod    = "web-5d8f7c9b4-branch1"
	subnetsPod   = "ipamwatch-subnets-6c9f8d7b5-x7k2d"
)

// loadCluster puts the world into the API server: the node with its labels, providerID,
// allocatable pods and branch ENIs, and its kubelet's address (the fake kubelet on
// kubeletPort); aws-node, kube-proxy and ipamwatch pods owned by their DaemonSets; workload
// pods, one with a branch ENI; events.
func (w world) loadCluster(t testing.TB, srv *kubetest.Server, kubeletPort int) {
	t.Helper()
	ctx := context.Background()
	cs := srv.Client()
	for _, ns := range []string{"shop", "ipamwatch"} {
		srv.CreateNamespace(t, ns)
	}
	srv.Apply(t, w.render(t, clusterYAML))
	// The Prometheus Operator's CRDs: the runbooks look for ipamwatch's ServiceMonitor,
	// PodMonitor and PrometheusRule.
	srv.InstallOperatorCRDs(t)
	if out, errs, err := srv.Kubectl(t, "wait", "--for=condition=established", "--timeout=60s", "crd/eniconfigs.crd.k8s.amazonaws.com"); err != nil {
		t.Fatalf("waiting for the ENIConfig CRD: %v\n%s%s", err, out, errs)
	}
	srv.Apply(t, w.render(t, eniConfigYAML))

	res := func(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }
	alloc := corev1.ResourceList{corev1.ResourcePods: res(29), corev1.ResourceCPU: res(2),
		corev1.ResourceMemory: resource.MustParse("7Gi"), "vpc.amazonaws.com/pod-eni": res(9)}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: w.Node, Labels: map[string]string{
			"kubernetes.io/os": "linux", "kubernetes.io/hostname": w.Node, "topology.kubernetes.io/region": w.Region,
			"topology.kubernetes.io/zone": w.AZ, "node.kubernetes.io/instance-type": w.InstanceType,
			"eks.amazonaws.com/nodegroup": "demo", "k8s.amazonaws.com/eniConfig": w.ENIConfig,
		}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///" + w.AZ + "/" + w.InstanceID},
		Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(kubeletPort)}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the node: %v", err)
	}
	created.Status = node.Status // the API server keeps the status a kubelet registers with; make sure
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node status: %v", err)
	}

	w.ensurePods(t, srv)

	// The MissingIAMPermissions message has the format of amazon-vpc-cni-k8s v1.23.0
	// pkg/awsutils/awsutils.go checkAPIErrorAndBroadcastEvent; the sandbox event's is the
	// kubelet's with the CNI's error, written for the test (not a captured line).
	now := metav1.NewTime(time.Now())
	for _, ev := range []corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7c9b4-pending.sandbox", Namespace: "shop"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-5d8f7c9b4-pending"},
			Reason:         "FailedCreatePodSandBox", Type: corev1.EventTypeWarning, Count: 3, FirstTimestamp: now, LastTimestamp: now,
			Source:  corev1.EventSource{Component: "kubelet", Host: w.Node},
			Message: `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox: plugin type="aws-cni" name="aws-cni" failed (add): add cmd: failed to assign an IP address to container`},
		{ObjectMeta: metav1.ObjectMeta{Name: awsNodePod + ".iam", Namespace: "kube-system"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "kube-system", Name: awsNodePod},
			Reason:         "MissingIAMPermissions", Type: corev1.EventTypeWarning, Count: 1, FirstTimestamp: now, LastTimestamp: now,
			Source:  corev1.EventSource{Component: "aws-node"},
			Message: "Unauthorized operation: failed to call ec2:AssignPrivateIpAddresses due to missing permissions. Please refer https://github.com/aws/amazon-vpc-cni-k8s/blob/master/docs/iam-policy.md to attach relevant policy to IAM role"},
	} {
		if _, err := cs.CoreV1().Events(ev.Namespace).Create(ctx, &ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating event %s: %v", ev.Name, err)
		}
	}
}

func typesUID(s string) k8stypes.UID { return k8stypes.UID(s) }

// ensurePods creates the world's pods that are missing (a fix or runbook block deleted or
// evicted them), Running with their addresses, owned by their controllers.
func (w world) ensurePods(t testing.TB, srv *kubetest.Server) {
	t.Helper()
	ctx := context.Background()
	cs := srv.Client()
	owner := func(kind, ns, name string) []metav1.OwnerReference {
		var uid string
		var api string
		switch kind {
		case "DaemonSet":
			ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			uid, api = string(ds.UID), "apps/v1"
		case "ReplicaSet":
			rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			uid, api = string(rs.UID), "apps/v1"
		}
		yes := true
		return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: name, UID: typesUID(uid), Controller: &yes, BlockOwnerDeletion: &yes}}
	}
	awsNodeDS, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "aws-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ipamwatchDS, err := cs.AppsV1().DaemonSets("ipamwatch").Get(ctx, "ipamwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type podDef struct {
		ns, name    string
		labels      map[string]string
		owner       []metav1.OwnerReference
		spec        corev1.PodSpec
		ip          string
		annotations map[string]string
	}
	fromTemplate := func(ds *appsv1.DaemonSet) corev1.PodSpec {
		s := *ds.Spec.Template.Spec.DeepCopy()
		s.NodeName = w.Node
		return s
	}
	pods := []podDef{
		{"kube-system", awsNodePod, map[string]string{"k8s-app": "aws-node"}, owner("DaemonSet", "kube-system", "aws-node"), fromTemplate(awsNodeDS), "10.20.33.17", nil},
		{"kube-system", "kube-proxy-m2x8w", map[string]string{"k8s-app": "kube-proxy"}, owner("DaemonSet", "kube-system", "kube-proxy"),
			corev1.PodSpec{NodeName: w.Node, HostNetwork: true, Containers: []corev1.Container{{Name: "kube-proxy", Image: "kube-proxy"}}}, "10.20.33.17", nil},
		{"ipamwatch", ipamwatchPod, map[string]string{"app.kubernetes.io/name": "ipamwatch"}, owner("DaemonSet", "ipamwatch", "ipamwatch"), fromTemplate(ipamwatchDS), "10.20.33.17", nil},
		{"ipamwatch", subnetsPod, map[string]string{"app.kubernetes.io/name": "ipamwatch", "app.kubernetes.io/component": "subnets"},
			owner("ReplicaSet", "ipamwatch", "ipamwatch-subnets-6c9f8d7b5"),
			corev1.PodSpec{NodeName: w.Node, Containers: []corev1.Container{{Name: "subnets", Image: "ghcr.io/ipamwatch/ipamwatch:dev", Args: []string{"subnets"}}}},
			"10.20.33.90", nil},
	}
	web := func(name, ip string, ann map[string]string) podDef {
		return podDef{"shop", name, map[string]string{"app": "web"}, owner("ReplicaSet", "shop", "web-5d8f7c9b4"),
			corev1.PodSpec{NodeName: w.Node, Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}, ip, ann}
	}
	pods = append(pods,
		web("web-5d8f7c9b4-a1", "10.20.33.40", nil), web("web-5d8f7c9b4-a2", "10.20.33.41", nil),
		web(branchPod, "10.20.36.12", map[string]string{"vpc.amazonaws.com/pod-eni": `[{"eniId":"eni-0b5a1c2d3e4f50617","ifAddress":"02:9a:3c:11:22:33","privateIp":"10.20.36.12","vlanId":1,"subnetCidr":"` + w.NodeCIDR + `"}]`}),
		web("web-5d8f7c9b4-pending", "", nil),
	)
	for _, p := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: p.labels, Annotations: p.annotations, OwnerReferences: p.owner}, Spec: p.spec}
		created, err := cs.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			t.Fatalf("creating pod %s/%s: %v", p.ns, p.name, err)
		}
		if p.ip == "" {
			continue // waits for an IP: stays Pending
		}
		created.Status.Phase = corev1.PodRunning
		created.Status.PodIP, created.Status.HostIP = p.ip, "10.20.33.17"
		created.Status.PodIPs = []corev1.PodIP{{IP: p.ip}}
		created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		for _, c := range created.Spec.Containers {
			cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
			if p.name == ipamwatchPod {
				// Restarted once: `kubectl logs --previous` has a container to show.
				cs.RestartCount = 1
				cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
					StartedAt: metav1.NewTime(time.Now().Add(-10 * time.Minute)), FinishedAt: metav1.NewTime(time.Now().Add(-5 * time.Minute))}}
			}
			created.Status.ContainerStatuses = append(created.Status.ContainerStatuses, cs)
		}
		if _, err := cs.CoreV1().Pods(p.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("status of pod %s/%s: %v", p.ns, p.name, err)
		}
	}

}

// applied is what reset needs to know of clusterYAML's objects: where each is and its
// resourceVersion after the last apply. An object a script changed (or deleted) has another.
type applied struct {
	dyn      dynamic.Interface
	objects  []appliedObject
	versions []string
}

type appliedObject struct {
	gvr      schema.GroupVersionResource
	ns, name string
}

// trackApplied finds the objects of the applied manifests and their current versions.
func trackApplied(t testing.TB, srv *kubetest.Server, manifests string) *applied {
	t.Helper()
	cfg := srv.RESTConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &applied{dyn: dyn}
	for _, doc := range strings.Split(manifests, "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil {
			t.Fatalf("reading a manifest: %v\n%s", err, doc)
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		o := appliedObject{gvr: m.Resource, name: u.GetName()}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			o.ns = u.GetNamespace()
		}
		a.objects = append(a.objects, o)
	}
	a.versions = a.current(t)
	return a
}

// current returns each object's resourceVersion ("" for one that is gone).
func (a *applied) current(t testing.TB) []string {
	t.Helper()
	out := make([]string, len(a.objects))
	for i, o := range a.objects {
		u, err := a.dyn.Resource(o.gvr).Namespace(o.ns).Get(context.Background(), o.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			t.Fatalf("getting %s %s/%s: %v", o.gvr.Resource, o.ns, o.name, err)
		default:
			out[i] = u.GetResourceVersion()
		}
	}
	return out
}

// reset undoes what fix and runbook blocks change: the node is schedulable again, deleted or
// evicted pods are back, aws-node's env and ServiceAccount are the world's. The manifests are
// applied again (with kubectl, as at the start) only when one of their objects changed.
func (r *scriptRig) reset(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	nodes := r.kube.Client().CoreV1().Nodes()
	node, err := nodes.Get(ctx, r.w.Node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Spec.Unschedulable { // kubectl uncordon
		node.Spec.Unschedulable = false
		if _, err := nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("uncordoning the node: %v", err)
		}
	}
	if !slices.Equal(r.applied.current(t), r.applied.versions) {
		r.kube.Apply(t, r.w.render(t, clusterYAML))
		r.applied.versions = r.applied.current(t)
	}
	r.w.ensurePods(t, r.kube)
}
