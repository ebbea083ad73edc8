package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

func TestMain(m *testing.M) {
	// Every test closes its API clients' idle connections, so no goroutine may outlive it.
	goleak.VerifyTestMain(m)
}

const testNode = "ip-10-0-1-10.eu-west-1.compute.internal"

// wantFixture is what the fixtures mean, worked out by hand: 6 unfinished pods on the node
// (aws-node, kube-proxy, coredns, two payments pods, web), 2 of them host network, 2 without
// a pod IP (payments-x2, web), pod-eni 1 requested + 1 by limit only (the Succeeded job's
// request does not count), ENIConfig from the zone label because ENI_CONFIG_LABEL_DEF says so.
func wantFixture() *nodestate.Kube {
	return &nodestate.Kube{
		FromAPI:            true,
		NodeName:           testNode,
		Zone:               "eu-west-1b",
		InstanceTypeLbl:    "m5.large",
		CreationTime:       time.Date(2026, 11, 20, 8, 15, 0, 0, time.UTC),
		AllocatablePods:    29,
		CapacityPods:       29,
		PodENICapacity:     9,
		ENIConfigName:      "eu-west-1b",
		Pods:               6,
		HostNetworkPods:    2,
		PodENIRequests:     2,
		PendingSandboxPods: 2,
		AWSNodeEnv: map[string]string{
			"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
			"ENI_CONFIG_LABEL_DEF":               "topology.kubernetes.io/zone",
			"ENABLE_PREFIX_DELEGATION":           "false",
			"ENABLE_POD_ENI":                     "true",
			"POD_SECURITY_GROUP_ENFORCING_MODE":  "standard",
			"WARM_ENI_TARGET":                    "1",
			"MINIMUM_IP_TARGET":                  "",
		},
		AWSNodeImage: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1",
	}
}

// cmpKube compares with time instants compared by value (json decoding adds a location).
var cmpKube = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	api, err := NewAPI(Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	bad := []Options{
		{},
		{NodeName: "Not_A_Node"},
		{NodeName: strings.Repeat("a", 254)},
		{NodeName: "n1", AWSNodeLabel: "k8s-app in (aws-node)"},
		{NodeName: "n1", AWSNodeLabel: "k8s-app=aws node"},
		{NodeName: "n1", AWSNodeLabel: ","},
		{NodeName: "n1", AWSNodeNamespace: "Kube System"},
		{NodeName: "n1", Resync: -time.Second},
	}
	for _, o := range bad {
		if _, err := NewClient(api, o); err == nil {
			t.Errorf("NewClient(%+v) accepted invalid options", o)
		}
	}
	if _, err := NewClient(nil, Options{NodeName: "n1"}); err == nil {
		t.Error("NewClient(nil API) accepted")
	}
	if _, err := NewClient(api, Options{NodeName: "n1"}); err != nil {
		t.Errorf("NewClient with defaults: %v", err)
	}
}

func TestInClusterConfigOutsideCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	_, err := InClusterConfig()
	if !errors.Is(err, ErrNotInCluster) {
		t.Fatalf("want ErrNotInCluster, got %v", err)
	}
	if !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST") {
		t.Errorf("error %q should say what is missing", err)
	}
}

func TestInClusterConfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	cfg, err := InClusterConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host:      "https://[fd00:10:96::1]:443",
		CAFile:    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
		TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// Builders for the table tests.
func node(name string, mod func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"topology.kubernetes.io/zone": "us-east-1a", "node.kubernetes.io/instance-type": "c5.xlarge",
		}},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourcePods: resource.MustParse("58"),
				PodENIResource:      resource.MustParse("18"),
			},
			Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("58")},
		},
	}
	if mod != nil {
		mod(n)
	}
	return n
}

func pod(ns, name, nodeName string, mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.1"},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

func awsNodePod(name, nodeName, image string, env []corev1.EnvVar, mod func(*corev1.Pod)) *corev1.Pod {
	return pod("kube-system", name, nodeName, func(p *corev1.Pod) {
		p.Labels = map[string]string{"k8s-app": "aws-node"}
		p.Spec.HostNetwork = true
		p.Spec.Containers = []corev1.Container{{Name: "aws-node", Image: image, Env: env}}
		if mod != nil {
			mod(p)
		}
	})
}

func podENI(req, limit string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
		if req != "" {
			r.Requests[PodENIResource] = resource.MustParse(req)
		}
		if limit != "" {
			r.Limits[PodENIResource] = resource.MustParse(limit)
		}
		p.Spec.Containers[0].Resources = r
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	const n1 = "node-1"
	env := []corev1.EnvVar{{Name: "WARM_IP_TARGET", Value: "5"}, {Name: "ENABLE_PREFIX_DELEGATION", Value: "true"}}
	base := func() *nodestate.Kube {
		return &nodestate.Kube{
			FromAPI:  true,
			NodeName: n1, Zone: "us-east-1a", InstanceTypeLbl: "c5.xlarge",
			AllocatablePods: 58, CapacityPods: 58, PodENICapacity: 18,
		}
	}
	tests := []struct {
		name           string
		node           *corev1.Node
		pods           []*corev1.Pod
		ignoreSelector bool
		want           func() *nodestate.Kube
	}{
		{
			name: "counts only this node's unfinished pods",
			node: node(n1, nil),
			pods: []*corev1.Pod{
				awsNodePod("aws-node-a", n1, "cni:v1.20.0", env, nil),
				pod("app", "a", n1, podENI("1", "")),
				pod("app", "b", n1, podENI("", "2")),
				pod("app", "c", n1, func(p *corev1.Pod) { p.Status.PodIP = ""; p.Status.Phase = corev1.PodPending }),
				pod("app", "hostnet-no-ip", n1, func(p *corev1.Pod) { p.Spec.HostNetwork = true; p.Status.PodIP = "" }),
				pod("app", "done", n1, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded; podENI("1", "")(p) }),
				pod("app", "failed", n1, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed; p.Status.PodIP = "" }),
				// Answered by a proxy that drops the field selector: the in-memory guard.
				pod("app", "elsewhere", "node-2", podENI("3", "")),
				awsNodePod("aws-node-z", "node-2", "cni:wrong", nil, nil),
			},
			ignoreSelector: true,
			want: func() *nodestate.Kube {
				k := base()
				k.Pods, k.HostNetworkPods, k.PendingSandboxPods, k.PodENIRequests = 5, 2, 1, 3
				k.AWSNodeEnv = map[string]string{"WARM_IP_TARGET": "5", "ENABLE_PREFIX_DELEGATION": "true"}
				k.AWSNodeImage = "cni:v1.20.0"
				return k
			},
		},
		{
			name: "no aws-node pod (e.g. EKS Auto Mode) leaves env nil",
			node: node(n1, nil),
			pods: []*corev1.Pod{pod("app", "a", n1, nil)},
			want: func() *nodestate.Kube { k := base(); k.Pods = 1; return k },
		},
		{
			name: "an aws-node pod without the aws-node container leaves env nil",
			node: node(n1, nil),
			pods: []*corev1.Pod{awsNodePod("aws-node-a", n1, "cni", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Name = "other" })},
			want: func() *nodestate.Kube { k := base(); k.Pods, k.HostNetworkPods = 1, 1; return k },
		},
		{
			name: "rollout: the running, not terminating aws-node pod wins",
			node: node(n1, nil),
			pods: []*corev1.Pod{
				awsNodePod("aws-node-old", n1, "cni:v1.18.0", nil, func(p *corev1.Pod) {
					now := metav1.Now()
					p.DeletionTimestamp = &now
				}),
				awsNodePod("aws-node-new", n1, "cni:v1.19.0", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
			},
			want: func() *nodestate.Kube {
				k := base()
				k.Pods, k.HostNetworkPods = 2, 2
				k.AWSNodeEnv, k.AWSNodeImage = map[string]string{}, "cni:v1.19.0"
				return k
			},
		},
		{
			name: "two running aws-node pods: the newest wins",
			node: node(n1, nil),
			pods: []*corev1.Pod{
				awsNodePod("aws-node-old", n1, "cni:v1.18.0", nil, func(p *corev1.Pod) {
					p.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				}),
				awsNodePod("aws-node-new", n1, "cni:v1.19.0", nil, func(p *corev1.Pod) {
					p.CreationTimestamp = metav1.NewTime(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
				}),
			},
			want: func() *nodestate.Kube {
				k := base()
				k.Pods, k.HostNetworkPods = 2, 2
				k.AWSNodeEnv, k.AWSNodeImage = map[string]string{}, "cni:v1.19.0"
				return k
			},
		},
		{
			name: "valueFrom env omitted, last literal wins, sidecar container ignored",
			node: node(n1, nil),
			pods: []*corev1.Pod{
				awsNodePod("aws-node-a", n1, "cni:v1.19.0", []corev1.EnvVar{
					{Name: "WARM_ENI_TARGET", Value: "1"},
					{Name: "WARM_ENI_TARGET", Value: "2"},
					{Name: "WARM_IP_TARGET", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}}},
				}, func(p *corev1.Pod) {
					p.Spec.Containers = append([]corev1.Container{{Name: "aws-eks-nodeagent", Image: "npa", Env: []corev1.EnvVar{{Name: "X", Value: "y"}}}}, p.Spec.Containers...)
				}),
			},
			want: func() *nodestate.Kube {
				k := base()
				k.Pods, k.HostNetworkPods = 1, 1
				k.AWSNodeEnv, k.AWSNodeImage = map[string]string{"WARM_ENI_TARGET": "2"}, "cni:v1.19.0"
				return k
			},
		},
		{
			name: "pod-eni: an init container larger than the containers' sum counts alone",
			node: node(n1, nil),
			pods: []*corev1.Pod{pod("app", "a", n1, func(p *corev1.Pod) {
				podENI("1", "")(p)
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{PodENIResource: resource.MustParse("3")}}}}
			})},
			want: func() *nodestate.Kube { k := base(); k.Pods, k.PodENIRequests = 1, 3; return k },
		},
		{
			name: "ENIConfig: external label beats annotation and label",
			node: node(n1, func(n *corev1.Node) {
				n.Labels["vpc.amazonaws.com/externalEniConfig"] = "ext"
				n.Labels["k8s.amazonaws.com/eniConfig"] = "lbl"
				n.Annotations = map[string]string{"k8s.amazonaws.com/eniConfig": "ann"}
			}),
			want: func() *nodestate.Kube { k := base(); k.ENIConfigName = "ext"; return k },
		},
		{
			name: "ENIConfig: annotation beats label",
			node: node(n1, func(n *corev1.Node) {
				n.Labels["k8s.amazonaws.com/eniConfig"] = "lbl"
				n.Annotations = map[string]string{"k8s.amazonaws.com/eniConfig": "ann"}
			}),
			want: func() *nodestate.Kube { k := base(); k.ENIConfigName = "ann"; return k },
		},
		{
			name: "ENIConfig: custom annotation key from aws-node env",
			node: node(n1, func(n *corev1.Node) { n.Annotations = map[string]string{"example.com/eni": "custom"} }),
			pods: []*corev1.Pod{
				awsNodePod("aws-node-a", n1, "cni", []corev1.EnvVar{{Name: "ENI_CONFIG_ANNOTATION_DEF", Value: "example.com/eni"}}, nil),
			},
			want: func() *nodestate.Kube {
				k := base()
				k.Pods, k.HostNetworkPods, k.ENIConfigName = 1, 1, "custom"
				k.AWSNodeEnv, k.AWSNodeImage = map[string]string{"ENI_CONFIG_ANNOTATION_DEF": "example.com/eni"}, "cni"
				return k
			},
		},
		{
			name: "beta labels and no pod-eni capacity",
			node: node(n1, func(n *corev1.Node) {
				n.Labels = map[string]string{"failure-domain.beta.kubernetes.io/zone": "us-east-1c", "beta.kubernetes.io/instance-type": "t3.medium"}
				delete(n.Status.Capacity, PodENIResource)
			}),
			want: func() *nodestate.Kube {
				k := base()
				k.Zone, k.InstanceTypeLbl, k.PodENICapacity = "us-east-1c", "t3.medium", 0
				return k
			},
		},
		{
			name: "quantities in other notations",
			node: node(n1, func(n *corev1.Node) {
				n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1.1e2")
				n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("100500m")
				n.Status.Capacity[PodENIResource] = resource.MustParse("0.018k")
			}),
			want: func() *nodestate.Kube {
				k := base()
				k.CapacityPods, k.AllocatablePods, k.PodENICapacity = 110, 101, 18
				return k
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &apiServer{t: t, nodes: []corev1.Node{*tc.node}, ignoreSelector: tc.ignoreSelector}
			for _, p := range tc.pods {
				s.pods = append(s.pods, *p)
			}
			c := s.client(t, Options{NodeName: n1})
			got, err := c.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(tc.want(), got, cmpKube); diff != "" {
				t.Errorf("kube mismatch (-want +got):\n%s", diff)
			}
			requests := s.seen()
			// The previous client-go path reads the same server the same way.
			old, err := legacyFetch(context.Background(), c.legacy(t), n1)
			if err != nil {
				t.Fatalf("legacy client-go Fetch: %v", err)
			}
			if diff := cmp.Diff(old, got, cmpKube); diff != "" {
				t.Errorf("new client and client-go disagree (-client-go +new):\n%s", diff)
			}
			// The request pattern the package doc promises: two requests, both scoped to
			// this node, both allowed to come from the API server's cache, no watch.
			want := []string{
				"GET /api/v1/nodes/" + n1 + "?resourceVersion=0",
				"GET /api/v1/pods?fieldSelector=spec.nodeName%3D" + n1 + "&resourceVersion=0&timeoutSeconds=10",
			}
			if diff := cmp.Diff(want, requests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFetchFixtures runs the hand-written fixtures (JSON as the API server writes it).
func TestFetchFixtures(t *testing.T) {
	t.Parallel()
	s := fixtureServer(t)
	c := s.client(t, Options{})
	got, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantFixture(), got, cmpKube); diff != "" {
		t.Errorf("kube mismatch (-want +got):\n%s", diff)
	}
	s.mu.Lock()
	for _, r := range s.requests {
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "ipamwatch/") {
			t.Errorf("User-Agent %q, want ipamwatch/<version> so API server audit logs name us", ua)
		}
		if acc := r.Header.Get("Accept"); acc != "application/json" {
			t.Errorf("Accept %q, want application/json (the only encoding decoded)", acc)
		}
	}
	s.mu.Unlock()
	old, err := legacyFetch(context.Background(), c.legacy(t), testNode)
	if err != nil {
		t.Fatalf("legacy client-go Fetch: %v", err)
	}
	if diff := cmp.Diff(old, got, cmpKube); diff != "" {
		t.Errorf("new client and client-go disagree (-client-go +new):\n%s", diff)
	}
}

// TestResync: within Resync, Fetch serves the last snapshot without API calls; the clock is
// injected, so nothing sleeps.
func TestResync(t *testing.T) {
	t.Parallel()
	s := &apiServer{t: t, nodes: []corev1.Node{*node("n1", nil)},
		pods: []corev1.Pod{*awsNodePod("aws-node-a", "n1", "cni", []corev1.EnvVar{{Name: "A", Value: "1"}}, nil)}}
	c := s.client(t, Options{NodeName: "n1", Resync: time.Minute})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }

	first, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first.AWSNodeEnv["A"] = "mutated by caller"
	now = now.Add(59 * time.Second)
	second, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.seen()); n != 2 {
		t.Fatalf("within Resync: %d API requests, want 2 (the first Fetch only)", n)
	}
	if second.AWSNodeEnv["A"] != "1" {
		t.Errorf("cached snapshot shared with a caller: A=%q", second.AWSNodeEnv["A"])
	}
	now = now.Add(time.Second)
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.seen()); n != 4 {
		t.Fatalf("after Resync: %d API requests, want 4", n)
	}
}

// FuzzDecodePodList: any answer either fails with an error or gives a consistent summary;
// never a panic.
func FuzzDecodePodList(f *testing.F) {
	nodeJSON, err := os.ReadFile(filepath.Join("testdata", "node.json"))
	if err != nil {
		f.Fatal(err)
	}
	podsJSON, err := os.ReadFile(filepath.Join("testdata", "pods.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nodeJSON, podsJSON)
	f.Add([]byte(`{"status":{"capacity":{"pods":"-5","vpc.amazonaws.com/pod-eni":"1e30"}}}`),
		[]byte(`{"kind":"PodList","items":[{"spec":{"nodeName":"n","containers":[{"resources":{"limits":{"vpc.amazonaws.com/pod-eni":"9999999999999"}}}]}}]}`))
	f.Add([]byte(`{}`), []byte(`{"items":[{}]}`))
	f.Add([]byte(`{"metadata":{"name":"n"}}`), []byte(`{"items":null,"metadata":{"continue":""}}`))
	sel, err := parseSelector(DefaultAWSNodeLabel)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, nb, pb []byte) {
		n, err := decodeNode(strings.NewReader(string(nb)))
		if err != nil {
			return
		}
		tl := newTally(n.Metadata.Name, "kube-system", sel, "aws-node")
		items := 0
		count, err := decodePodList(strings.NewReader(string(pb)), func(p *podObject) { items++; tl.add(p) })
		if err != nil {
			return
		}
		if count != items {
			t.Fatalf("decodePodList says %d items, handed over %d", count, items)
		}
		k := tl.finish(n)
		if k.Pods < 0 || k.Pods > items || k.HostNetworkPods+k.PendingSandboxPods > k.Pods || k.PodENIRequests < 0 ||
			k.CapacityPods < 0 || k.AllocatablePods < 0 || k.PodENICapacity < 0 {
			t.Fatalf("inconsistent summary: %+v", k)
		}
	})
}

// BenchmarkFetchPodList: what one poll of a node with 500 pods costs the agent (the list as
// the API server writes it, decoded and reduced).
func BenchmarkFetchPodList(b *testing.B) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	list.Items = append(list.Items, *awsNodePod("aws-node-a", testNode, "cni:v1.20.0", []corev1.EnvVar{{Name: "WARM_IP_TARGET", Value: "5"}}, nil))
	for i := 0; i < 500; i++ {
		p := pod("shop", "web-"+strings.Repeat("x", i%7), testNode, podENI("1", "1"))
		p.Labels = map[string]string{"app": "web", "pod-template-hash": "5d4f8c7b9"}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
		list.Items = append(list.Items, *p)
	}
	body, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	sel, _ := parseSelector(DefaultAWSNodeLabel)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		tl := newTally(testNode, "kube-system", sel, "aws-node")
		if _, err := decodePodList(bytes.NewReader(body), tl.add); err != nil {
			b.Fatal(err)
		}
		if tl.k.Pods != 501 {
			b.Fatalf("%d pods", tl.k.Pods)
		}
	}
}
