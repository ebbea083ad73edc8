//go:build !agentonly

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

func cmdDemo(ctx context.Context, args []string, s streams) int {
	fs := flag.NewFlagSet("ipamwatch demo", flag.ContinueOnError)
	fs.SetOutput(s.err)
	scenario := fs.String("scenario", "subnet-exhausted", "scenario to simulate (see --list-scenarios)")
	listen := fs.String("web.listen-address", "127.0.0.1:9713", "address the agent serves /metrics on")
	list := fs.Bool("list-scenarios", false, "list the scenarios and exit")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until interrupted)")
	report := fs.Duration("report-after", 12*time.Second, "print the diagnosis this long after start (0 = never)")
	lf := &logFlags{}
	fs.StringVar(&lf.level, "log.level", "warn", "agent log level")
	fs.StringVar(&lf.format, "log.format", "text", "agent log format: json or text")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, sc := range demo.Scenarios() {
			fmt.Fprintf(s.out, "%-24s %s\n", sc.Name, sc.Description)
		}
		return 0
	}
	spec, err := demo.Lookup(*scenario)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 2
	}
	logger, err := lf.logger(s.err)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 2
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "ipamwatch-demo-")
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	node, err := demo.Start(ctx, spec, dir, demo.Options{})
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 1
	}
	defer node.Close()
	a, err := agent.New(demoAgentConfig(node, *listen, logger))
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 1
	}
	fmt.Fprintf(s.out, "ipamwatch demo: scenario %q: %s\n", spec.Name, spec.Description)
	fmt.Fprintf(s.out, "  metrics:   http://%s/metrics\n  diagnosis: http://%s/diagnosis?format=text\n", *listen, *listen)
	fmt.Fprintf(s.out, "  simulated node: ipamd %s, CNI metrics %s, IMDS %s, logs %s\n", node.IPAMDAddress, node.CNIMetricsURL, node.IMDSEndpoint, dir)
	if *report > 0 {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(*report):
			}
			rep, _ := a.Report()
			fmt.Fprintf(s.out, "\n--- diagnosis after %s (refreshes at /diagnosis) ---\n", *report)
			_ = diagnosis.WriteText(s.out, rep)
		}()
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(s.err, "ipamwatch demo:", err)
		return 1
	}
	return 0
}

// demoAgentConfig points a real agent at the simulated node, with short intervals so the
// scenario unfolds in seconds.
func demoAgentConfig(node *demo.Node, listen string, logger *slog.Logger) agent.Config {
	return agent.Config{
		ListenAddress:   listen,
		NodeName:        node.NodeName,
		IPAMDAddress:    node.IPAMDAddress,
		CNIMetricsURL:   node.CNIMetricsURL,
		IMDSEndpoint:    node.IMDSEndpoint,
		SubnetsURL:      node.SubnetsURL,
		IPAMDLog:        node.IPAMDLog,
		PluginLog:       node.PluginLog,
		LogBackfill:     1 << 20,
		Kubernetes:      "on",
		KubeAPI:         &node.KubeAPI,
		IntervalIPAMD:   2 * time.Second,
		IntervalCNI:     2 * time.Second,
		IntervalIMDS:    10 * time.Second,
		IntervalKube:    2 * time.Second,
		IntervalSubnets: 5 * time.Second,
		DiagnoseEvery:   time.Second,
		SourceTimeout:   2 * time.Second,
		Logger:          logger,
	}
}
