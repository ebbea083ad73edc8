package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/webserver"
)

// webFlags are the serving flags of both exporters: exporter-toolkit's listener flags
// (repeatable --web.listen-address, --web.systemd-socket, --web.config.file), the telemetry
// path and the connection cap.
type webFlags struct {
	toolkit        *web.FlagConfig
	telemetryPath  *string
	maxConnections *int
}

func addWebFlags(c *kingpin.CmdClause, defaultAddress, defaultPath string) *webFlags {
	return &webFlags{
		toolkit:        kingpinflag.AddFlags(c, defaultAddress),
		telemetryPath:  c.Flag("web.telemetry-path", "Path under which to expose metrics.").Default(defaultPath).String(),
		maxConnections: c.Flag("web.max-connections", "Connections served at once per listen address; more wait until one closes.").Default(strconv.Itoa(webserver.DefaultMaxConnections)).Int(),
	}
}

const runHelp = `Run the node agent: poll the sources, tail the logs, serve /metrics and /diagnosis.

Meant for the DaemonSet beside aws-node (host network). Stops gracefully on SIGTERM or
SIGINT (exit 0).`

func defineRun(c *kingpin.CmdClause) runFunc {
	cfg := agent.DefaultConfig()
	wf := addWebFlags(c, cfg.ListenAddresses[0], cfg.TelemetryPath)
	sourceFlags(c, &cfg)
	c.Flag("events", "Create a Kubernetes Event on the Node when the binding ceiling or a critical finding changes.").BoolVar(&cfg.Events)
	c.Flag("interval.ipamd", "Poll interval of ipamd introspection (each request adds a line to ipamd.log).").
		Default(dur(cfg.IntervalIPAMD)).DurationVar(&cfg.IntervalIPAMD)
	c.Flag("interval.cni", "Poll interval of the CNI metrics.").Default(dur(cfg.IntervalCNI)).DurationVar(&cfg.IntervalCNI)
	c.Flag("interval.imds", "Poll interval of instance metadata.").Default(dur(cfg.IntervalIMDS)).DurationVar(&cfg.IntervalIMDS)
	c.Flag("interval.kubernetes", "Poll interval of the Kubernetes API (two node-scoped requests).").
		Default(dur(cfg.IntervalKube)).DurationVar(&cfg.IntervalKube)
	c.Flag("interval.subnets", "Poll interval of the subnet exporter.").Default(dur(cfg.IntervalSubnets)).DurationVar(&cfg.IntervalSubnets)
	logCfg := logFlags(c, "info", "json")

	return func(ctx context.Context, s streams) int {
		cfg.ListenAddresses = *wf.toolkit.WebListenAddresses
		cfg.SystemdSocket = *wf.toolkit.WebSystemdSocket
		cfg.WebConfigFile = *wf.toolkit.WebConfigFile
		cfg.TelemetryPath = *wf.telemetryPath
		cfg.MaxConnections = *wf.maxConnections
		logger := newLogger(logCfg, s.err)
		cfg.Logger = logger
		// The agent's heap is small and mostly short-lived (a scrape's gzip state, a poll's
		// decoded answers): collecting at 75% growth instead of Go's 100% keeps its resident
		// memory about 2 MiB lower for about 6% more CPU per scrape; 50% collected at almost
		// every scrape and doubled it (docs/performance.md). GOGC in the environment decides.
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(75)
		}
		a, err := agent.New(cfg)
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch run:", err)
			return exitError
		}
		logger.Info("starting ipamwatch", "version", version.Info(), "build_context", version.BuildContext())
		if err := a.Run(ctx); err != nil {
			logger.Error("agent stopped", "err", err)
			return exitError
		}
		return exitOK
	}
}
