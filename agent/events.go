package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/kube"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// eventSink writes an Event on the Node (*kube.API).
type eventSink interface {
	CreateNodeEvent(ctx context.Context, ev kube.NodeEvent) error
}

// eventRecorder writes a Kubernetes Event on the Node when the binding ceiling or the set of
// critical findings changes. Off by default (it needs RBAC to create events in the
// namespace kube.NodeEventNamespace).
type eventRecorder struct {
	sink   eventSink
	node   string
	logger *slog.Logger
	now    func() time.Time
	seeded bool
}

func newEventRecorder(sink eventSink, node string, logger *slog.Logger) *eventRecorder {
	return &eventRecorder{sink: sink, node: node, logger: logger, now: time.Now}
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
	evType, reason := "Normal", "IPCeilingChanged"
	if len(cc) > 0 {
		evType, reason = "Warning", "IPAllocationAtRisk"
	}
	msg := fmt.Sprintf("binding ceiling %s -> %s; critical findings: [%s]", prev.BindingCeiling, cur.BindingCeiling, strings.Join(cc, ", "))
	for _, f := range cur.Findings {
		if f.Severity == diagnosis.SeverityCritical {
			msg += "; " + string(f.Cause) + ": " + f.Summary
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev := kube.NodeEvent{Node: e.node, Type: evType, Reason: reason, Message: msg, Time: e.now()}
	if err := e.sink.CreateNodeEvent(ctx, ev); err != nil {
		e.logger.Warn("creating node event", "err", err)
	}
}
