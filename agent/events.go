package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// eventRecorder writes a Kubernetes Event on the Node when the binding ceiling or the set of
// critical findings changes. Off by default (it needs RBAC to create events).
type eventRecorder struct {
	cs     kubernetes.Interface
	node   string
	logger *slog.Logger
	seeded bool
}

func newEventRecorder(cs kubernetes.Interface, node string, logger *slog.Logger) *eventRecorder {
	return &eventRecorder{cs: cs, node: node, logger: logger}
}

func inClusterClientset() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func criticalCauses(r diagnosis.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity == diagnosis.SeverityCritical {
			out = append(out, string(f.Cause))
		}
	}
	sort.Strings(out)
	return out
}

// observe compares two consecutive reports and records an Event on a change. The first
// report only seeds the recorder: an agent restart must not spam events.
func (e *eventRecorder) observe(prev, cur diagnosis.Report) {
	if !e.seeded {
		e.seeded = true
		return
	}
	pc, cc := criticalCauses(prev), criticalCauses(cur)
	if prev.BindingCeiling == cur.BindingCeiling && strings.Join(pc, ",") == strings.Join(cc, ",") {
		return
	}
	evType, reason := corev1.EventTypeNormal, "IPCeilingChanged"
	if len(cc) > 0 {
		evType, reason = corev1.EventTypeWarning, "IPAllocationAtRisk"
	}
	msg := fmt.Sprintf("binding ceiling %s -> %s; critical findings: [%s]", prev.BindingCeiling, cur.BindingCeiling, strings.Join(cc, ", "))
	for _, f := range cur.Findings {
		if f.Severity == diagnosis.SeverityCritical {
			msg += "; " + string(f.Cause) + ": " + f.Summary
		}
	}
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		// Named like kubelet's events: the object's name and a hex timestamp.
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", e.node, now.UnixNano()), Namespace: metav1.NamespaceDefault},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: e.node, UID: "", APIVersion: "v1"},
		Reason:         reason,
		Message:        msg,
		Type:           evType,
		Source:         corev1.EventSource{Component: "ipamwatch", Host: e.node},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.cs.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		e.logger.Warn("creating node event", "err", err)
	}
}
