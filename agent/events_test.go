package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/kube"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// recordingSink keeps the events it is given (the HTTP side is tested in collectors/kube
// and, end to end, against the demo's API server and a real kube-apiserver).
type recordingSink struct {
	mu     sync.Mutex
	events []kube.NodeEvent
	err    error
}

func (s *recordingSink) CreateNodeEvent(_ context.Context, ev kube.NodeEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	return s.err
}

// An Event is written on the Node when the binding ceiling or the critical findings change,
// and never for the first report (an agent restart must not spam events).
func TestEventRecorder(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	rec := newEventRecorder(sink, "node-a", slog.New(slog.DiscardHandler))
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	rec.now = func() time.Time { return at }
	healthy := diagnosis.Report{BindingCeiling: "none"}
	full := diagnosis.Report{BindingCeiling: "subnet", Findings: []diagnosis.Finding{
		{Cause: "subnet_exhausted", Severity: diagnosis.SeverityCritical, Summary: "subnet subnet-1 has no free IPv4 addresses"},
	}}
	rec.observe(diagnosis.Report{}, full) // first report: seeds only
	if n := len(sink.events); n != 0 {
		t.Fatalf("first report wrote %d events", n)
	}
	rec.observe(full, full) // no change
	if n := len(sink.events); n != 0 {
		t.Fatalf("unchanged report wrote %d events", n)
	}
	rec.observe(full, healthy)
	rec.observe(healthy, full)
	if len(sink.events) != 2 {
		t.Fatalf("%d events, want 2", len(sink.events))
	}
	normal, warning := sink.events[0], sink.events[1]
	if normal.Node != "node-a" || normal.Type != "Normal" || normal.Reason != "IPCeilingChanged" || !normal.Time.Equal(at) {
		t.Errorf("normal event = %+v", normal)
	}
	if warning.Type != "Warning" || warning.Reason != "IPAllocationAtRisk" || !strings.Contains(warning.Message, "subnet_exhausted") || !strings.Contains(warning.Message, "none -> subnet") {
		t.Errorf("warning event = %+v", warning)
	}

	// A refused event is logged, not fatal; the next change is tried again.
	sink.err = errors.New("kubernetes: forbidden to create events")
	rec.observe(full, healthy)
	if len(sink.events) != 3 {
		t.Fatalf("%d events, want 3", len(sink.events))
	}
}
