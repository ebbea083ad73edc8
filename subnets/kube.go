package subnets

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeInstances lists the cluster's nodes and returns instance id -> node name, read from
// spec.providerID (aws:///<zone>/<instance-id>). Nodes without an AWS provider id are skipped.
func NodeInstances(ctx context.Context, client kubernetes.Interface) (map[string]string, error) {
	out := map[string]string{}
	opts := metav1.ListOptions{Limit: 500}
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("listing nodes: more than %d pages", maxPages)
		}
		list, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		for _, n := range list.Items {
			if id := instanceIDFromProviderID(n.Spec.ProviderID); id != "" {
				out[id] = n.Name
			}
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// instanceIDFromProviderID returns the instance id of an AWS provider id, or "".
func instanceIDFromProviderID(p string) string {
	if !strings.HasPrefix(p, "aws://") {
		return ""
	}
	id := p[strings.LastIndex(p, "/")+1:]
	if !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}
