//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

func runDemo(ctx context.Context, o *demoOptions, s streams) int {
	if o.list {
		for _, sc := range demo.Scenarios() {
			fmt.Fprintf(s.out, "%-24s %s\n", sc.Name, sc.Description)
		}
		return exitOK
	}
	spec, err := demo.Lookup(o.scenario)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return exitError
	}
	logger := newLogger(o.log, s.err)
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "ipamwatch-demo-")
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return exitError
	}
	defer os.RemoveAll(dir)

	node, err := demo.Start(ctx, spec, dir, demo.Options{})
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return exitError
	}
	defer node.Close()
	a, err := agent.New(demoAgentConfig(node, o.listen, logger))
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return exitError
	}
	fmt.Fprintf(s.out, "ipamwatch demo: scenario %q: %s\n", spec.Name, spec.Description)
	fmt.Fprintf(s.out, "  metrics:   http://%s/metrics\n  diagnosis: http://%s/diagnosis?format=text\n", o.listen, o.listen)
	fmt.Fprintf(s.out, "  simulated node: ipamd %s, CNI metrics %s, IMDS %s, logs %s\n", node.IPAMDAddress, node.CNIMetricsURL, node.IMDSEndpoint, dir)
	if report := o.reportAfter; report > 0 {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(report):
			}
			rep, _ := a.Report()
			fmt.Fprintf(s.out, "\n--- diagnosis after %s (refreshes at /diagnosis) ---\n", report)
			_ = diagnosis.WriteText(s.out, rep)
		}()
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return exitError
	}
	return 0
}

// demoAgentConfig points a real agent at the simulated node, with short intervals so the
// scenario unfolds in seconds.
func demoAgentConfig(node *demo.Node, listen string, logger *slog.Logger) agent.Config {
	cfg := node.AgentConfig()
	cfg.ListenAddresses = []string{listen}
	cfg.LogBackfill = 1 << 20
	cfg.IntervalIPAMD, cfg.IntervalCNI, cfg.IntervalIMDS = 2*time.Second, 2*time.Second, 10*time.Second
	cfg.IntervalKube, cfg.IntervalSubnets = 2*time.Second, 5*time.Second
	cfg.DiagnoseEvery = time.Second
	cfg.SourceTimeout = 2 * time.Second
	cfg.Logger = logger
	return cfg
}
