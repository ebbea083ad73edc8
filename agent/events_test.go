package agent

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// An Event is written on the Node when the binding ceiling or the critical findings change,
// and never for the first report (an agent restart must not spam events).
func TestEventRecorder(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset()
	rec := newEventRecorder(cs, "node-a", slog.New(slog.DiscardHandler))
	healthy := diagnosis.Report{BindingCeiling: "none"}
	full := diagnosis.Report{BindingCeiling: "subnet", Findings: []diagnosis.Finding{
		{Cause: "subnet_exhausted", Severity: "critical", Summary: "subnet subnet-1 has no free IPv4 addresses"},
	}}
	events := func() int {
		l, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	rec.observe(diagnosis.Report{}, full) // first report: seeds only
	if n := events(); n != 0 {
		t.Fatalf("first report wrote %d events", n)
	}
	rec.observe(full, full) // no change
	if n := events(); n != 0 {
		t.Fatalf("unchanged report wrote %d events", n)
	}
	rec.observe(full, healthy)
	rec.observe(healthy, full)
	l, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 {
		t.Fatalf("%d events, want 2", len(l.Items))
	}
	var warning bool
	for _, ev := range l.Items {
		if ev.InvolvedObject.Kind != "Node" || ev.InvolvedObject.Name != "node-a" || ev.Source.Component != "ipamwatch" {
			t.Errorf("event not on the node: %+v", ev.InvolvedObject)
		}
		if ev.Type == "Warning" {
			warning = true
			if ev.Reason != "IPAllocationAtRisk" || !strings.Contains(ev.Message, "subnet_exhausted") || !strings.Contains(ev.Message, "none -> subnet") {
				t.Errorf("warning event = %s %q", ev.Reason, ev.Message)
			}
		}
	}
	if !warning {
		t.Error("no Warning event for the critical finding")
	}
}
