package subnets

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// candidate is one replica in the election test.
type candidate struct {
	name    string
	cancel  context.CancelFunc
	started chan struct{} // closed when it starts leading
	stopped chan struct{} // closed when its work has returned
	done    chan error    // RunLeaderElected's result
}

func TestLeaderElectionOneLeads(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	var mu sync.Mutex
	leading := map[string]bool{}
	both := false

	start := func(name string) *candidate {
		ctx, cancel := context.WithCancel(t.Context())
		c := &candidate{name: name, cancel: cancel, started: make(chan struct{}), stopped: make(chan struct{}), done: make(chan error, 1)}
		cfg := LeaderConfig{
			Client: client, Namespace: "kube-system", LeaseName: "ipamwatch-subnets", Identity: name,
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 50 * time.Millisecond,
		}
		var once sync.Once
		go func() {
			c.done <- RunLeaderElected(ctx, cfg, func(wctx context.Context) {
				mu.Lock()
				leading[name] = true
				both = both || len(leading) > 1
				mu.Unlock()
				once.Do(func() { close(c.started) })
				<-wctx.Done()
				mu.Lock()
				delete(leading, name)
				mu.Unlock()
			}, func(leader bool) {
				if !leader {
					close(c.stopped)
				}
			})
		}()
		return c
	}
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // a guard against hanging, not a timing assertion
			t.Fatalf("timed out waiting for %s", what)
		}
	}

	a, b := start("replica-a"), start("replica-b")
	var first, second *candidate
	select {
	case <-a.started:
		first, second = a, b
	case <-b.started:
		first, second = b, a
	case <-time.After(30 * time.Second):
		t.Fatal("nobody became leader")
	}
	lease, err := client.CoordinationV1().Leases("kube-system").Get(t.Context(), "ipamwatch-subnets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != first.name {
		t.Errorf("lease holder = %s, want %s", got, first.name)
	}
	select {
	case <-second.started:
		t.Fatalf("%s leads while %s holds the lease", second.name, first.name)
	default:
	}

	// The leader steps down (rolling update): it releases the lease and the other takes over.
	first.cancel()
	wait(first.stopped, first.name+" to stop")
	if err := <-first.done; err != nil {
		t.Errorf("%s: %v", first.name, err)
	}
	wait(second.started, second.name+" to take over")
	lease, err = client.CoordinationV1().Leases("kube-system").Get(t.Context(), "ipamwatch-subnets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != second.name {
		t.Errorf("lease holder after hand-over = %s, want %s", got, second.name)
	}
	second.cancel()
	wait(second.stopped, second.name+" to stop")
	if err := <-second.done; err != nil {
		t.Errorf("%s: %v", second.name, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if both {
		t.Error("both replicas ran the work at the same time")
	}
}

func TestLeaderConfigValidation(t *testing.T) {
	t.Parallel()
	err := RunLeaderElected(t.Context(), LeaderConfig{Client: fake.NewClientset(), Namespace: "ns", LeaseName: "l"}, func(context.Context) {}, nil)
	if err == nil {
		t.Error("empty identity accepted")
	}
}
