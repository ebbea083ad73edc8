package main

import (
	"context"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
)

// demoOptions are demo's flags. They are declared in both builds, so that the agent-only
// build answers "not in this build" to a demo command line instead of "unknown flag".
type demoOptions struct {
	scenario    string
	listen      string
	list        bool
	duration    time.Duration
	reportAfter time.Duration
	log         *promslog.Config
}

const demoHelp = `Run the agent against a simulated node on loopback.

The simulated node serves ipamd introspection, the CNI metrics, instance metadata and the
subnet exporter, writes ipamd.log, and plays a scenario (--list-scenarios).`

func defineDemo(c *kingpin.CmdClause) runFunc {
	o := &demoOptions{}
	c.Flag("scenario", "Scenario to simulate (see --list-scenarios).").Default("subnet-exhausted").StringVar(&o.scenario)
	c.Flag("web.listen-address", "Address the agent serves /metrics on.").Default("127.0.0.1:9713").StringVar(&o.listen)
	c.Flag("list-scenarios", "List the scenarios and exit.").BoolVar(&o.list)
	c.Flag("duration", "Stop after this long (0 = until interrupted).").Default("0s").DurationVar(&o.duration)
	c.Flag("report-after", "Print the diagnosis this long after start (0 = never).").Default("12s").DurationVar(&o.reportAfter)
	o.log = logFlags(c, "warn", "logfmt")
	return func(ctx context.Context, s streams) int { return runDemo(ctx, o, s) }
}
