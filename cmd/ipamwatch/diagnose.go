package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/collectors/bundle"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

func cmdDiagnose(ctx context.Context, args []string, s streams) int {
	fs := flag.NewFlagSet("ipamwatch diagnose", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cfg, lf := agentFlags(fs)
	bundlePath := fs.String("bundle", "", "diagnose an EKS log-collector bundle (directory or .tar.gz) instead of this node")
	var logs logFiles
	fs.Var(&logs, "log", "diagnose a log on its own: ipamd.log, plugin.log, a rotated .gz or a pasted excerpt; - reads stdin (repeatable)")
	format := fs.String("format", "text", "output format: text or json")
	timeout := fs.Duration("timeout", 20*time.Second, "overall time limit of a live diagnosis")
	lf.level, lf.format = "warn", "text"
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(s.err, "ipamwatch diagnose: --format must be text or json, not %q\n", *format)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "ipamwatch diagnose: unexpected arguments %v (a bundle goes in --bundle)\n", fs.Args())
		return 2
	}
	logger, err := lf.logger(s.err)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
		return 2
	}
	if *bundlePath != "" && len(logs) > 0 {
		fmt.Fprintln(s.err, "ipamwatch diagnose: --bundle and --log exclude each other (a bundle holds its logs)")
		return 2
	}
	var rep diagnosis.Report
	if len(logs) > 0 {
		inputs := make([]bundle.LogInput, 0, len(logs))
		for _, name := range logs {
			if name == "-" {
				inputs = append(inputs, bundle.LogInput{Name: "stdin", R: s.in})
				continue
			}
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
				return 1
			}
			defer f.Close()
			inputs = append(inputs, bundle.LogInput{Name: name, R: f})
		}
		res, err := bundle.LoadLogs(inputs, bundle.Options{})
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
			return 1
		}
		opts := cfg.Diagnosis
		opts.Now = res.State.Time
		rep = diagnosis.Diagnose(&res.State, opts)
	} else if *bundlePath != "" {
		res, err := bundle.Load(*bundlePath, bundle.Options{})
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
			return 1
		}
		for _, m := range res.Missing {
			fmt.Fprintln(s.err, "ipamwatch diagnose: bundle lacks", m)
		}
		opts := cfg.Diagnosis
		opts.Now = res.State.Time
		rep = diagnosis.Diagnose(&res.State, opts)
	} else {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		cfg.Logger = logger
		cfg.SourceTimeout = 5 * time.Second
		var err error
		rep, _, err = agent.Once(ctx, *cfg)
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
			return 1
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
			return 1
		}
		return 0
	}
	if err := diagnosis.WriteText(s.out, rep); err != nil {
		fmt.Fprintln(s.err, "ipamwatch diagnose:", err)
		return 1
	}
	return 0
}

// logFiles is the repeatable --log flag.
type logFiles []string

func (l *logFiles) String() string     { return strings.Join(*l, ",") }
func (l *logFiles) Set(v string) error { *l = append(*l, v); return nil }
