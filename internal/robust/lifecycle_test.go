package robust_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestRunStopLeaksNoGoroutines starts the agent against a simulated node with every source
// and both logs, lets it poll, scrape and tail, stops it, and checks that every goroutine it
// started is gone. Not parallel: goleak looks at the whole process.
func TestRunStopLeaksNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	spec, err := demo.Lookup("large")
	if err != nil {
		t.Fatal(err)
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	node, err := demo.Start(nodeCtx, spec, t.TempDir(), demo.Options{Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // twice: a second start must not find leftovers of the first
		cfg := node.AgentConfig()
		cfg.ListenAddresses = []string{fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))}
		cfg.Events = true
		cfg.IntervalIPAMD, cfg.IntervalCNI, cfg.IntervalIMDS, cfg.IntervalKube = time.Second, time.Second, time.Second, time.Second
		cfg.DiagnoseEvery = 100 * time.Millisecond
		a, err := agent.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		base := "http://" + cfg.ListenAddresses[0]
		testtools.WaitFor(t, waitLimit, "agent ready", func() bool {
			code, _, err := get(base+"/readyz", 2*time.Second)
			return err == nil && code == 200
		})
		body := scrape(t, base)
		if v, ok := sample(body, `ipamwatch_source_up{source="ipamd"}`); !ok || v != 1 {
			t.Fatalf("round %d: ipamd source up = %v (present %v), want 1", round, v, ok)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run: %v", round, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: Run did not return within 30 s of cancel", round)
		}
	}
	stopNode()
	node.Close()
	testtools.CloseIdleConnections()
	// Keep-alive connections of the agent's clients end when the node's servers close them;
	// goleak retries for a moment before it reports.
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}
