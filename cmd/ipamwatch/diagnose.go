package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/collectors/bundle"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/ctxio"
	"github.com/ipamwatch/ipamwatch/internal/schema"
)

const diagnoseHelp = `One-shot triage of this node, of an EKS log-collector bundle, or of logs alone.

Live (no --bundle, no --log), every source of this node is read once, with the agent's flags
for where they are. --log diagnoses what a log says on its own (ipamd.log, plugin.log, a
rotated .gz or a pasted excerpt; - reads stdin): findings are marked "logs only" and the report
says what to add to be sure. Exit status 0 when nothing critical was found, 3 when a finding is
critical, 1 on an error.`

func defineDiagnose(c *kingpin.CmdClause) runFunc {
	cfg := agent.DefaultConfig()
	bundlePath := c.Flag("bundle", "Diagnose an EKS log-collector bundle (directory or .tar.gz) instead of this node.").String()
	logs := c.Flag("log", "Diagnose a log on its own: ipamd.log, plugin.log, a rotated .gz or a pasted excerpt; - reads stdin. Repeatable.").Strings()
	format := c.Flag("format", "Output format: text or json (docs/schemas/diagnose.md).").Default("text").HintOptions("text", "json").String()
	timeout := c.Flag("timeout", "Overall time limit of a live diagnosis.").Default("20s").Duration()
	sourceFlags(c, &cfg)
	logCfg := logFlags(c, "warn", "logfmt")

	return func(ctx context.Context, s streams) int {
		if *format != "text" && *format != "json" {
			fmt.Fprintf(s.err, "ipamwatch diagnose: --format must be text or json, not %q\n", *format)
			return exitError
		}
		if *bundlePath != "" && len(*logs) > 0 {
			fmt.Fprintln(s.err, "ipamwatch diagnose: --bundle and --log exclude each other (a bundle holds its logs)")
			return exitError
		}
		var rep diagnosis.Report
		switch {
		case len(*logs) > 0:
			inputs := make([]bundle.LogInput, 0, len(*logs))
			var files []io.Closer
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			for _, name := range *logs {
				// kingpin hands a lone "-" after --log over as "" (it reads it as a flag
				// marker); both mean stdin, an empty file name has no other use.
				if name == "-" || name == "" {
					inputs = append(inputs, bundle.LogInput{Name: "stdin", R: s.in})
					continue
				}
				f, err := ctxio.Open(ctx, name)
				if err != nil {
					fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
					return exitError
				}
				files = append(files, f)
				inputs = append(inputs, bundle.LogInput{Name: name, R: f})
			}
			res, err := bundle.LoadLogs(ctx, inputs, bundle.Options{})
			if err != nil {
				fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
				return exitError
			}
			opts := cfg.Diagnosis
			opts.Now = res.State.Time
			rep = diagnosis.Diagnose(&res.State, opts)
		case *bundlePath != "":
			res, err := bundle.Load(ctx, *bundlePath, bundle.Options{})
			if err != nil {
				fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
				return exitError
			}
			for _, m := range res.Missing {
				fmt.Fprintln(s.err, "ipamwatch diagnose: bundle lacks", m)
			}
			opts := cfg.Diagnosis
			opts.Now = res.State.Time
			rep = diagnosis.Diagnose(&res.State, opts)
		default:
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			cfg.Logger = newLogger(logCfg, s.err)
			cfg.SourceTimeout = 5 * time.Second
			a, err := agent.New(cfg)
			if err != nil {
				fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
				return exitError
			}
			rep = a.RunOnce(ctx)
		}
		if err := ctx.Err(); err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose: interrupted:", err)
			return exitError
		}
		var err error
		if *format == "json" {
			err = schema.Write(s.out, schema.Diagnose, rep)
		} else {
			err = diagnosis.WriteText(s.out, rep)
		}
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose: writing the report:", err)
			return exitError
		}
		return diagnoseExitCode(rep)
	}
}

// diagnoseExitCode is 3 when a finding is critical, so a runbook or a CI gate can branch on it.
func diagnoseExitCode(rep diagnosis.Report) int {
	for _, f := range rep.Findings {
		if f.Severity == diagnosis.SeverityCritical {
			return exitCritical
		}
	}
	return exitOK
}
