// Package kube reads what the Kubernetes API knows about the node the agent runs on: the
// Node's pod and branch-ENI capacity and its ENIConfig selection, the pods scheduled to it,
// and the aws-node container's settings (the only complete view of WARM_*, MINIMUM_IP_TARGET,
// ENABLE_PREFIX_DELEGATION, custom networking, ...). It owns the client and the reduction of
// API objects to nodestate.Kube; it knows nothing about metrics.
//
// # Request pattern and cost
//
// Every Fetch makes exactly two requests, both scoped to this node and both served from the
// API server's watch cache (resourceVersion=0), never from etcd:
//
//	GET  /api/v1/nodes/<node>?resourceVersion=0
//	LIST /api/v1/pods?fieldSelector=spec.nodeName=<node>&resourceVersion=0
//
// The aws-node pod is found in that same list (namespace and label matched in memory), so no
// third request is needed. With the agent's 30-60 s poll, 5,000 nodes cost 170-330 small
// requests per second cluster-wide, each returning one Node and at most a few hundred pods
// (a node's own pods, as kubelet sees them). Watches (informers) were considered: they give
// fresher data at the price of one long-lived watch per agent and a full relist on every
// watch that cannot resume, for state (capacity, env, pod counts) that changes on the
// scale of minutes. A bounded poll has a predictable cost and needs no watch permission.
//
// RBAC: get on nodes, list on pods (cluster scope, because the pod list spans namespaces).
package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/common/version"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Defaults for Options.
const (
	DefaultAWSNodeNamespace = "kube-system"
	DefaultAWSNodeLabel     = "k8s-app=aws-node"
	DefaultAWSNodeContainer = "aws-node"
	// DefaultTimeout bounds each API request.
	DefaultTimeout = 10 * time.Second
)

// ErrNotInCluster is returned by NewInCluster when the process is not running in a pod.
var ErrNotInCluster = errors.New("kubernetes: not running inside a cluster")

// Options configures a Client.
type Options struct {
	// NodeName is this node's name, usually from the downward API (spec.nodeName). Required.
	NodeName string
	// AWSNodeNamespace is where the aws-node DaemonSet runs (default kube-system).
	AWSNodeNamespace string
	// AWSNodeLabel selects the aws-node pods (default k8s-app=aws-node); any label selector.
	AWSNodeLabel string
	// AWSNodeContainer is the container whose env and image are read (default aws-node).
	AWSNodeContainer string
	// Resync is the shortest time between two API round trips: a Fetch within Resync of the
	// last successful one returns that snapshot again, so several consumers (or a scrape
	// storm) never multiply API server load. 0 means every Fetch goes to the API server.
	Resync time.Duration
	// Timeout bounds each API request (default 10s).
	Timeout time.Duration
}

// Client reads this node's view of the Kubernetes API. It is safe for concurrent use.
type Client struct {
	cs       kubernetes.Interface
	opts     Options
	selector labels.Selector
	now      func() time.Time

	mu     sync.Mutex
	last   *nodestate.Kube
	lastAt time.Time
}

// NewClient validates opts and wraps cs. It does not contact the API server.
func NewClient(cs kubernetes.Interface, opts Options) (*Client, error) {
	if cs == nil {
		return nil, errors.New("kubernetes: nil clientset")
	}
	if opts.NodeName == "" {
		return nil, errors.New("kubernetes: node name is empty (set it from the downward API: spec.nodeName)")
	}
	if msgs := validation.IsDNS1123Subdomain(opts.NodeName); len(msgs) > 0 {
		return nil, fmt.Errorf("kubernetes: node name %q is invalid: %v", opts.NodeName, msgs)
	}
	if opts.AWSNodeNamespace == "" {
		opts.AWSNodeNamespace = DefaultAWSNodeNamespace
	}
	if msgs := validation.IsDNS1123Label(opts.AWSNodeNamespace); len(msgs) > 0 {
		return nil, fmt.Errorf("kubernetes: aws-node namespace %q is invalid: %v", opts.AWSNodeNamespace, msgs)
	}
	if opts.AWSNodeLabel == "" {
		opts.AWSNodeLabel = DefaultAWSNodeLabel
	}
	sel, err := labels.Parse(opts.AWSNodeLabel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: aws-node label selector %q: %w", opts.AWSNodeLabel, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("kubernetes: aws-node label selector %q selects every pod", opts.AWSNodeLabel)
	}
	if opts.AWSNodeContainer == "" {
		opts.AWSNodeContainer = DefaultAWSNodeContainer
	}
	if opts.Resync < 0 {
		return nil, fmt.Errorf("kubernetes: resync must not be negative, got %s", opts.Resync)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("kubernetes: timeout must not be negative, got %s", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Client{cs: cs, opts: opts, selector: sel, now: time.Now}, nil
}

// NewInCluster builds a Client from the pod's service account (rest.InClusterConfig).
// Outside a cluster it returns an error wrapping ErrNotInCluster.
func NewInCluster(opts Options) (*Client, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("%w (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset; run the agent as a pod or disable the Kubernetes source): %w", ErrNotInCluster, err)
		}
		return nil, fmt.Errorf("kubernetes: in-cluster config: %w", err)
	}
	return newForConfig(cfg, opts)
}

// newForConfig applies the agent's client settings to cfg. Shared with tests so the
// httptest API server sees exactly what a cluster would.
func newForConfig(cfg *rest.Config, opts Options) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = version.ComponentUserAgent("ipamwatch")
	// Protobuf is cheaper for the API server to encode than JSON; JSON stays acceptable.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	// Two requests per poll: a low client-side limit is a guard, not a constraint.
	cfg.QPS, cfg.Burst = 2, 4
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg.Timeout = timeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: building client: %w", err)
	}
	return NewClient(cs, opts)
}

// Fetch reads the Node and its pods (two requests, see the package doc) and reduces them to
// nodestate.Kube. Within Options.Resync of the last success it returns that snapshot.
func (c *Client) Fetch(ctx context.Context) (*nodestate.Kube, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.opts.Resync > 0 && c.now().Sub(c.lastAt) < c.opts.Resync {
		return cloneKube(c.last), nil
	}
	node, err := c.getNode(ctx)
	if err != nil {
		return nil, err
	}
	pods, err := c.listPods(ctx)
	if err != nil {
		return nil, err
	}
	k := summarize(node, pods, c.opts.NodeName, c.opts.AWSNodeNamespace, c.selector, c.opts.AWSNodeContainer)
	c.last, c.lastAt = k, c.now()
	return cloneKube(k), nil
}

func (c *Client) getNode(ctx context.Context) (*corev1.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	// resourceVersion=0: served from the API server's cache; a few seconds of staleness is
	// irrelevant at our poll interval.
	node, err := c.cs.CoreV1().Nodes().Get(ctx, c.opts.NodeName, metav1.GetOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, apiError("get", "nodes", c.opts.NodeName, err)
	}
	return node, nil
}

func (c *Client) listPods(ctx context.Context) ([]corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	timeoutSeconds := int64((c.opts.Timeout + time.Second - 1) / time.Second)
	list, err := c.cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("spec.nodeName", c.opts.NodeName).String(),
		ResourceVersion: "0",
		// The API server stops working on the list when we stop waiting for it.
		TimeoutSeconds: &timeoutSeconds,
	})
	if err != nil {
		return nil, apiError("list", "pods", "spec.nodeName="+c.opts.NodeName, err)
	}
	return list.Items, nil
}

// apiError names the verb and resource so that a 403 reads as the RBAC rule to add.
func apiError(verb, resource, what string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kubernetes: forbidden to %s %s (%s): the agent's ClusterRole needs verb %q on resource %q: %w", verb, resource, what, verb, resource, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: %s %s: unauthorized (service account token missing or expired): %w", verb, resource, err)
	case apierrors.IsNotFound(err) && resource == "nodes":
		return fmt.Errorf("kubernetes: node %q not found (is the node name taken from spec.nodeName?): %w", what, err)
	case isTimeout(err):
		return fmt.Errorf("kubernetes: %s %s (%s): API server did not answer in time: %w", verb, resource, what, err)
	default:
		return fmt.Errorf("kubernetes: %s %s (%s): %w", verb, resource, what, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func cloneKube(k *nodestate.Kube) *nodestate.Kube {
	out := *k
	if k.AWSNodeEnv != nil {
		out.AWSNodeEnv = make(map[string]string, len(k.AWSNodeEnv))
		for name, v := range k.AWSNodeEnv {
			out.AWSNodeEnv[name] = v
		}
	}
	return &out
}
