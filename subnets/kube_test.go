package subnets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNodeInstances(t *testing.T) {
	t.Parallel()
	node := func(name, provider string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: provider}}
	}
	client := fake.NewClientset(
		node("ip-10-0-0-10.ec2.internal", "aws:///us-west-2a/i-0123456789abcdef0"),
		node("fargate-ip-10-0-0-11", "aws:///us-west-2a/fa-0123"), // Fargate: no instance
		node("kind-node", "kind://docker/kind/kind-control-plane"),
		node("no-provider", ""),
	)
	got, err := NodeInstances(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"i-0123456789abcdef0": "ip-10-0-0-10.ec2.internal"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
