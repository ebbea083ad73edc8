// Package kube reads what the Kubernetes API knows about the node the agent runs on: the
// Node's pod and branch-ENI capacity and its ENIConfig selection, the pods scheduled to it,
// and the aws-node container's settings (the only complete view of WARM_*, MINIMUM_IP_TARGET,
// ENABLE_PREFIX_DELEGATION, custom networking, ...). It also writes the agent's optional
// Events on the Node. It owns a small API client (api.go), the decoding of the few fields it
// reads (decode.go) and their reduction to nodestate.Kube (summarize.go); it knows nothing
// about metrics.
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
// RBAC: get on nodes, list on pods (cluster scope, because the pod list spans namespaces);
// with Events on, create on events in the namespace "default" only (NodeEventNamespace).
package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Defaults for Options.
const (
	DefaultAWSNodeNamespace = "kube-system"
	DefaultAWSNodeLabel     = "k8s-app=aws-node"
	DefaultAWSNodeContainer = "aws-node"
	// DefaultTimeout bounds each API call.
	DefaultTimeout = 10 * time.Second
)

// Options configures a Client.
type Options struct {
	// NodeName is this node's name, usually from the downward API (spec.nodeName). Required.
	NodeName string
	// AWSNodeNamespace is where the aws-node DaemonSet runs (default kube-system).
	AWSNodeNamespace string
	// AWSNodeLabel selects the aws-node pods (default k8s-app=aws-node): an equality-based
	// label selector.
	AWSNodeLabel string
	// AWSNodeContainer is the container whose env and image are read (default aws-node).
	AWSNodeContainer string
	// Resync is the shortest time between two API round trips: a Fetch within Resync of the
	// last successful one returns that snapshot again, so several consumers (or a scrape
	// storm) never multiply API server load. 0 means every Fetch goes to the API server.
	Resync time.Duration
}

// Client reads this node's view of the Kubernetes API. It is safe for concurrent use.
type Client struct {
	api      *API
	opts     Options
	selector selector
	now      func() time.Time

	mu     sync.Mutex
	last   *nodestate.Kube
	lastAt time.Time
}

// NewClient validates opts and reads through api. It does not contact the API server.
func NewClient(api *API, opts Options) (*Client, error) {
	if api == nil {
		return nil, errors.New("kubernetes: nil API client")
	}
	if opts.NodeName == "" {
		return nil, errors.New("kubernetes: node name is empty (set it from the downward API: spec.nodeName)")
	}
	if !validDNSSubdomain(opts.NodeName) {
		return nil, fmt.Errorf("kubernetes: node name %q is invalid: not a lower-case RFC 1123 subdomain of at most 253 characters", opts.NodeName)
	}
	if opts.AWSNodeNamespace == "" {
		opts.AWSNodeNamespace = DefaultAWSNodeNamespace
	}
	if !validDNSLabel(opts.AWSNodeNamespace) {
		return nil, fmt.Errorf("kubernetes: aws-node namespace %q is invalid: not a lower-case RFC 1123 label", opts.AWSNodeNamespace)
	}
	if opts.AWSNodeLabel == "" {
		opts.AWSNodeLabel = DefaultAWSNodeLabel
	}
	sel, err := parseSelector(opts.AWSNodeLabel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: aws-node label selector %q: %w", opts.AWSNodeLabel, err)
	}
	if opts.AWSNodeContainer == "" {
		opts.AWSNodeContainer = DefaultAWSNodeContainer
	}
	if opts.Resync < 0 {
		return nil, fmt.Errorf("kubernetes: resync must not be negative, got %s", opts.Resync)
	}
	return &Client{api: api, opts: opts, selector: sel, now: time.Now}, nil
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
	t := newTally(c.opts.NodeName, c.opts.AWSNodeNamespace, c.selector, c.opts.AWSNodeContainer)
	if err := c.listPods(ctx, t.add); err != nil {
		return nil, err
	}
	k := t.finish(node)
	c.last, c.lastAt = k, c.now()
	return cloneKube(k), nil
}

func (c *Client) getNode(ctx context.Context) (*nodeObject, error) {
	var node *nodeObject
	err := c.api.do(ctx, request{
		method: "GET",
		path:   "/api/v1/nodes/" + url.PathEscape(c.opts.NodeName),
		// resourceVersion=0: served from the API server's cache; a few seconds of
		// staleness is irrelevant at our poll interval.
		query: url.Values{"resourceVersion": {"0"}},
		verb:  "get", resource: "nodes", what: c.opts.NodeName,
	}, func(r io.Reader) error {
		n, err := decodeNode(r)
		node = n
		return err
	})
	return node, err
}

func (c *Client) listPods(ctx context.Context, fn func(*podObject)) error {
	timeoutSeconds := int64((c.api.timeout + time.Second - 1) / time.Second)
	return c.api.do(ctx, request{
		method: "GET",
		path:   "/api/v1/pods",
		query: url.Values{
			"fieldSelector":   {"spec.nodeName=" + c.opts.NodeName},
			"resourceVersion": {"0"},
			// The API server stops working on the list when we stop waiting for it.
			"timeoutSeconds": {strconv.FormatInt(timeoutSeconds, 10)},
		},
		verb: "list", resource: "pods", what: "spec.nodeName=" + c.opts.NodeName,
	}, func(r io.Reader) error {
		_, err := decodePodList(r, fn)
		return err
	})
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
