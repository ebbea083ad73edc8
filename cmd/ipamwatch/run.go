package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/collectors/kube"
)

// agentFlags binds the agent's flags on fs and returns the config they fill.
func agentFlags(fs *flag.FlagSet) (*agent.Config, *logFlags) {
	c := &agent.Config{}
	fs.StringVar(&c.ListenAddress, "web.listen-address", ":9713", "address to serve /metrics, /diagnosis, /healthz and /readyz on")
	fs.StringVar(&c.WebConfigFile, "web.config.file", "", "exporter-toolkit web config file for TLS and basic auth")
	fs.StringVar(&c.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's Kubernetes name (default $NODE_NAME)")
	fs.StringVar(&c.IPAMDAddress, "ipamd.address", "http://127.0.0.1:61679", "ipamd introspection address (http://host:port or unix:/path); empty disables")
	fs.StringVar(&c.CNIMetricsURL, "cni.metrics-url", "http://127.0.0.1:61678/metrics", "aws-node metrics URL; empty disables")
	fs.StringVar(&c.IMDSEndpoint, "imds.endpoint", "", "instance metadata endpoint (default: the SDK's, 169.254.169.254)")
	fs.BoolVar(&c.DisableIMDS, "imds.disable", false, "do not read instance metadata")
	fs.StringVar(&c.SubnetsURL, "subnets.metrics-url", "", "/metrics URL of the cluster-level 'ipamwatch subnets' exporter (confirms fragmentation vs exhaustion); empty disables")
	fs.DurationVar(&c.IntervalSubnets, "interval.subnets", 60*time.Second, "poll interval of the subnet exporter")
	fs.StringVar(&c.IPAMDLog, "log.ipamd", "/host/var/log/aws-routed-eni/ipamd.log", "ipamd.log to tail; empty disables")
	fs.StringVar(&c.PluginLog, "log.plugin", "/host/var/log/aws-routed-eni/plugin.log", "plugin.log to tail; empty disables")
	fs.Int64Var(&c.LogBackfill, "log.backfill-bytes", 1<<20, "read this many bytes before the end of each log at start")
	fs.StringVar(&c.Kubernetes, "kubernetes", "auto", "Kubernetes API access: auto (in-cluster when available), on, off")
	// Outside a pod (development, benchmarks): the API server and credentials to use.
	kapi := &kube.Config{CAFile: kube.ServiceAccountDir + "/ca.crt", TokenFile: kube.ServiceAccountDir + "/token"}
	fs.Func("kubernetes.api-server", "API server URL instead of the in-cluster one (KUBERNETES_SERVICE_HOST/PORT)", func(v string) error { kapi.Host, c.KubeAPI = v, kapi; return nil })
	fs.StringVar(&kapi.CAFile, "kubernetes.ca-file", kapi.CAFile, "CA bundle for --kubernetes.api-server")
	fs.StringVar(&kapi.TokenFile, "kubernetes.token-file", kapi.TokenFile, "bearer token file for --kubernetes.api-server (re-read when it changes)")
	fs.BoolVar(&c.Events, "events", false, "create a Kubernetes Event on the Node when the binding ceiling or a critical finding changes")
	fs.DurationVar(&c.IntervalIPAMD, "interval.ipamd", 30*time.Second, "poll interval of ipamd introspection (each request adds a line to ipamd.log)")
	fs.DurationVar(&c.IntervalCNI, "interval.cni", 30*time.Second, "poll interval of the CNI metrics")
	fs.DurationVar(&c.IntervalIMDS, "interval.imds", 5*time.Minute, "poll interval of instance metadata")
	fs.DurationVar(&c.IntervalKube, "interval.kubernetes", 60*time.Second, "poll interval of the Kubernetes API (two node-scoped requests)")
	lf := &logFlags{}
	fs.StringVar(&lf.level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&lf.format, "log.format", "json", "log format: json or text")
	return c, lf
}

type logFlags struct{ level, format string }

func (lf *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(lf.format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format must be json or text, not %q", lf.format)
}

func cmdRun(ctx context.Context, args []string, s streams) int {
	fs := flag.NewFlagSet("ipamwatch run", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cfg, lf := agentFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := lf.logger(s.err)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch run:", err)
		return 2
	}
	cfg.Logger = logger
	// The agent's heap is small and mostly short-lived (a scrape's gzip state, a poll's
	// decoded answers): collecting at 75% growth instead of Go's 100% keeps its resident
	// memory about 2 MiB lower for about 6% more CPU per scrape; 50% collected at almost
	// every scrape and doubled it (docs/performance.md). GOGC in the environment decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(75)
	}
	a, err := agent.New(*cfg)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch run:", err)
		return 2
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("agent stopped", "err", err)
		return 1
	}
	return 0
}
