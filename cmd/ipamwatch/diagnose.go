package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	var rep diagnosis.Report
	if *bundlePath != "" {
		res, err := bundle.Load(ctx, *bundlePath, bundle.Options{})
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
