// Command profile runs the agent and a simulated node in one process for --duration,
// scraped every 15 s, and writes a CPU profile and an allocation profile, so the agent's
// steady-state cost can be attributed to functions (`go tool pprof -top -sample_index=
// alloc_space FILE`). The simulator's own frames (package demo) are in the same profiles;
// read them apart by package. footprint.sh measures the agent's process alone.
//
// Usage: go run ./bench/profile --duration 60s --out DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/bench/internal/agentproc"
	"github.com/ipamwatch/ipamwatch/demo"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", time.Minute, "how long to profile the steady state")
	out := fs.String("out", ".", "directory for cpu.pprof and allocs.pprof")
	scenario := fs.String("scenario", "large", "demo scenario")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(stderr, "profile:", err); return 1 }
	spec, err := demo.Lookup(*scenario)
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "ipamwatch-profile-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node, err := demo.Start(ctx, spec, dir, demo.Options{})
	if err != nil {
		return fail(err)
	}
	defer node.Close()
	port, err := agentproc.FreePort()
	if err != nil {
		return fail(err)
	}
	cfg := node.AgentConfig()
	cfg.SubnetsURL = "" // the profile is of the node-local sources, as it always was
	cfg.ListenAddresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	cfg.LogBackfill = 1 << 20
	a, err := agent.New(cfg)
	if err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for start := time.Now(); !a.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			return fail(fmt.Errorf("agent not ready within a minute"))
		}
	}
	time.Sleep(5 * time.Second) // past the backfill
	runtime.MemProfileRate = 4096
	cpuF, err := os.Create(filepath.Join(*out, "cpu.pprof"))
	if err != nil {
		return fail(err)
	}
	defer cpuF.Close()
	if err := pprof.StartCPUProfile(cpuF); err != nil {
		return fail(err)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	for end := t0.Add(*duration); time.Now().Before(end); {
		if code, _, err := agentproc.Get(base+"/metrics", 10*time.Second); err != nil || code != http.StatusOK {
			return fail(fmt.Errorf("scrape: status %d: %w", code, err))
		}
		time.Sleep(min(15*time.Second, time.Until(end)))
	}
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&ms1)
	el := time.Since(t0).Seconds()
	allocF, err := os.Create(filepath.Join(*out, "allocs.pprof"))
	if err != nil {
		return fail(err)
	}
	defer allocF.Close()
	if err := pprof.Lookup("allocs").WriteTo(allocF, 0); err != nil {
		return fail(err)
	}
	fmt.Printf("profile: %.0f s, whole process (agent + simulator): %.0f KiB/s allocated, %.0f allocs/s; profiles in %s\n",
		el, float64(ms1.TotalAlloc-ms0.TotalAlloc)/1024/el, float64(ms1.Mallocs-ms0.Mallocs)/el, *out)
	cancel()
	if err := <-done; err != nil {
		return fail(err)
	}
	return 0
}
