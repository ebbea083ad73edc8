package subnets

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// whatIfCluster is four m5.large nodes with 8 pods each under WARM_ENI_TARGET=1: each holds
// its primary ENI and a CNI ENI of 10 addresses in subnet-w (/24).
func whatIfCluster(t *testing.T, withDaemonSet bool) (*fakeec2.Server, *fake.Clientset) {
	t.Helper()
	srv := fakeec2.New(t)
	srv.Subnets = []fakeec2.Subnet{{ID: "subnet-w", VPCID: "vpc-1", AZ: "us-west-2a", AZID: "usw2-az1", CIDR: "10.1.0.0/24", Available: 171}}
	srv.InstanceTypes = []fakeec2.InstanceType{{Name: "m5.large", VCPUs: 2, MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", CardMaxENIs: []int{3}}}
	objs := []runtime.Object{}
	ip := 10
	next := func() string { ip++; return fmt.Sprintf("10.1.0.%d", ip) }
	for n := 1; n <= 4; n++ {
		id := fmt.Sprintf("i-n%d", n)
		for k, desc := range []string{"", "aws-K8S-" + id} {
			e := fakeec2.ENI{ID: fmt.Sprintf("eni-%d%d", n, k), SubnetID: "subnet-w", Type: "interface", Description: desc, Status: "in-use", InstanceID: id, PrimaryIP: next()}
			for range 9 {
				e.SecondaryIPs = append(e.SecondaryIPs, next())
			}
			srv.ENIs = append(srv.ENIs, e)
		}
		name := fmt.Sprintf("node-%d", n)
		objs = append(objs, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelInstanceTypeStable: "m5.large"}},
			Spec:       corev1.NodeSpec{ProviderID: "aws:///us-west-2a/" + id},
			Status:     corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("29")}},
		})
		for p := range 8 {
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d-%d", n, p), Namespace: "default"}, Spec: corev1.PodSpec{NodeName: name}})
		}
		objs = append(objs,
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("aws-node-%d", n), Namespace: "kube-system"}, Spec: corev1.PodSpec{NodeName: name, HostNetwork: true}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("done-%d", n), Namespace: "default"}, Spec: corev1.PodSpec{NodeName: name}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}})
	}
	if withDaemonSet {
		objs = append(objs, &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "aws-node", Namespace: "kube-system"},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "aws-node", Env: []corev1.EnvVar{{Name: "WARM_ENI_TARGET", Value: "1"}, {Name: "MY_NODE_NAME", ValueFrom: &corev1.EnvVarSource{}}}},
				{Name: "aws-eks-nodeagent", Env: []corev1.EnvVar{{Name: "WARM_ENI_TARGET", Value: "9"}}},
			}}}},
		})
	}
	return srv, fake.NewClientset(objs...)
}

func TestReadWorkload(t *testing.T) {
	t.Parallel()
	_, kube := whatIfCluster(t, true)
	w, warns, err := ReadWorkload(t.Context(), kube, "kube-system")
	if err != nil || len(warns) > 0 {
		t.Fatalf("err %v, warnings %v", err, warns)
	}
	if diff := cmp.Diff(WorkloadNode{Name: "node-2", InstanceType: "m5.large", MaxPods: 29, Pods: 8}, w.Nodes["i-n2"]); diff != "" {
		t.Errorf("node i-n2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"WARM_ENI_TARGET": "1"}, w.Env); diff != "" {
		t.Errorf("aws-node env (-want +got):\n%s", diff)
	}
	_, kube = whatIfCluster(t, false)
	w, warns, err = ReadWorkload(t.Context(), kube, "kube-system")
	if err != nil || w.Env != nil || len(warns) != 1 || !strings.Contains(warns[0], "aws-node") {
		t.Errorf("without the DaemonSet: err %v, env %v, warnings %v", err, w.Env, warns)
	}
}

// TestWhatIfSnapshot: 171 addresses are free in subnet-w; the nodes hold 20 each. Like now, 8
// more fit. The claim model agrees for WARM_ENI_TARGET=1 at 8 pods, and with the docs' advice
// (WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10: 12 each, 8 given back by each current node) 16 fit.
func TestWhatIfSnapshot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		ds        bool
		model     bool
		sentences []string
	}{
		{"modelled", true, true, []string{"8 more m5.large nodes at 8 pods each (64 pods), 20 addresses per node with WARM_ENI_TARGET=1", "with WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10 it takes 16 more instead of 8"}},
		{"held only", false, false, []string{"8 more m5.large nodes holding 20 addresses each, as the 4 here do now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, kube := whatIfCluster(t, tc.ds)
			src := &Source{
				API: fakeClient(t, srv, 2), Discovery: Discovery{SubnetIDs: []string{"subnet-w"}},
				Nodes:    func(ctx context.Context) (map[string]string, error) { return NodeInstances(ctx, kube) },
				Workload: func(ctx context.Context) (Workload, []string, error) { return ReadWorkload(ctx, kube, "kube-system") },
			}
			snap, err := src.Snapshot(t.Context(), fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			wi := snap.Results[0].WhatIf
			if wi == nil || wi.Free != 171 || len(wi.Groups) != 1 {
				t.Fatalf("what-if %+v", wi)
			}
			g := wi.Groups[0]
			if g.Nodes != 4 || g.HeldPerNode != 20 || g.NodesLikeNow != 8 || (g.Model != nil) != tc.model {
				t.Errorf("group %+v", g)
			}
			if tc.model && (g.Model.Current.Nodes != 8 || g.Model.Current.Claim.Binding != forecast.BindingTarget) {
				t.Errorf("model: %+v", g.Model.Current)
			}
			var text, js strings.Builder
			if err := WriteText(&text, snap); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, snap); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.sentences {
				if !strings.Contains(text.String(), s) || !strings.Contains(js.String(), s) {
					t.Errorf("text or JSON lacks %q:\n%s", s, text.String())
				}
			}
			if !strings.Contains(text.String(), "what-if (171 free addresses, basis exact)") || !strings.Contains(js.String(), `"what_if"`) {
				t.Errorf("no what-if heading:\n%s", text.String())
			}
		})
	}
}
