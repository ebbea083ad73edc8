package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// NodeEventNamespace is where Events about a Node are written. A Node is cluster-scoped, and
// the API server accepts a core/v1 Event about a cluster-scoped object only in the
// namespace "default" (pkg/apis/core/validation/events.go, Kubernetes v1.37.2, for Events
// without eventTime), which is where kubelet writes its own. RBAC: create on events in this
// namespace, and nothing else.
const NodeEventNamespace = "default"

// NodeEvent is an Event the agent writes about its Node.
type NodeEvent struct {
	Node string
	// Type is "Normal" or "Warning".
	Type    string
	Reason  string
	Message string
	Time    time.Time
}

// maxEventMessage bounds the message: an Event is a short note that points to /diagnosis.
const maxEventMessage = 1024

// The core/v1 Event fields the agent writes.
type eventObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	InvolvedObject struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		UID        string `json:"uid"`
	} `json:"involvedObject"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Source  struct {
		Component string `json:"component"`
		Host      string `json:"host"`
	} `json:"source"`
	FirstTimestamp     string `json:"firstTimestamp"`
	LastTimestamp      string `json:"lastTimestamp"`
	Count              int    `json:"count"`
	ReportingComponent string `json:"reportingComponent"`
	ReportingInstance  string `json:"reportingInstance"`
}

// CreateNodeEvent writes ev on its Node (POST .../namespaces/default/events).
func (a *API) CreateNodeEvent(ctx context.Context, ev NodeEvent) error {
	if !validDNSSubdomain(ev.Node) {
		return fmt.Errorf("kubernetes: event on node %q: invalid node name", ev.Node)
	}
	var o eventObject
	o.APIVersion, o.Kind = "v1", "Event"
	// Named like kubelet's events: the object's name and a hex timestamp, within the 253
	// characters of a name.
	suffix := fmt.Sprintf(".%x", ev.Time.UnixNano())
	prefix := ev.Node
	if len(prefix)+len(suffix) > 253 {
		prefix = prefix[:253-len(suffix)]
	}
	o.Metadata.Name, o.Metadata.Namespace = prefix+suffix, NodeEventNamespace
	// The uid is the node's name, as kubelet writes it: `kubectl describe node` looks for
	// events under the Node's uid and under its name (kubectl pkg/describe, NodeDescriber).
	o.InvolvedObject.APIVersion, o.InvolvedObject.Kind = "v1", "Node"
	o.InvolvedObject.Name, o.InvolvedObject.UID = ev.Node, ev.Node
	o.Reason, o.Type = ev.Reason, ev.Type
	o.Message = ev.Message
	if len(o.Message) > maxEventMessage {
		cut := maxEventMessage
		for cut > 0 && !utf8.RuneStart(o.Message[cut]) {
			cut--
		}
		o.Message = o.Message[:cut]
	}
	o.Source.Component, o.Source.Host = "ipamwatch", ev.Node
	ts := ev.Time.UTC().Format(time.RFC3339)
	o.FirstTimestamp, o.LastTimestamp, o.Count = ts, ts, 1
	o.ReportingComponent, o.ReportingInstance = "ipamwatch", ev.Node
	body, err := json.Marshal(&o)
	if err != nil {
		return fmt.Errorf("kubernetes: encoding event: %w", err)
	}
	return a.do(ctx, request{
		method: "POST",
		path:   "/api/v1/namespaces/" + NodeEventNamespace + "/events",
		body:   body,
		verb:   "create", resource: "events", namespace: NodeEventNamespace, what: "on node " + ev.Node,
	}, func(r io.Reader) error {
		_, err := io.Copy(io.Discard, io.LimitReader(r, maxObjectBytes))
		return err
	})
}
