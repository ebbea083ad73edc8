// Command tailcompare drives log followers (ipamwatch's own tailer, nxadm/tail and
// hpcloud/tail, each with inotify and with polling) through the same rotation torture and
// prints lost and duplicated lines per follower. It is a separate module so the two
// libraries never enter ipamwatch's go.mod. See docs/design-tailer.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	sc := DefaultScenario
	flag.IntVar(&sc.Rounds, "rounds", sc.Rounds, "rotations (mixed rename, copytruncate, delete-recreate)")
	flag.IntVar(&sc.Rate, "rate", sc.Rate, "lines per second written")
	flag.Uint64Var(&sc.Seed, "seed", sc.Seed, "seed for the rotation plan and line lengths")
	only := flag.String("impl", "", "run only followers whose name contains this")
	kinds := flag.String("kinds", "", "comma-separated rotation kinds to use (rename, copytruncate, recreate); empty mixes all")
	steadyRate := flag.Int("steady", 0, "instead of the torture, measure each follower's CPU on a steady log of this many lines/s")
	steadyFor := flag.Duration("steady-for", 20*time.Second, "duration of each -steady measurement")
	flag.Parse()
	if *steadyRate > 0 {
		for _, im := range impls {
			if *only != "" && !strings.Contains(im.name, *only) {
				continue
			}
			if err := steady(os.Stdout, im, *steadyRate, *steadyFor); err != nil {
				fmt.Fprintln(os.Stderr, "tailcompare:", err)
				os.Exit(1)
			}
		}
		return
	}
	for k := range strings.SplitSeq(*kinds, ",") {
		if k == "" {
			continue
		}
		i := slices.Index(kindNames, strings.TrimSpace(k))
		if i < 0 {
			fmt.Fprintf(os.Stderr, "tailcompare: unknown rotation kind %q (want %s)\n", k, strings.Join(kindNames, ", "))
			os.Exit(2)
		}
		sc.Kinds = append(sc.Kinds, i)
	}
	if sc.Rounds < 1 || sc.Rate < 1 {
		fmt.Fprintln(os.Stderr, "tailcompare: -rounds and -rate must be positive")
		os.Exit(2)
	}
	if _, err := compare(os.Stdout, sc, *only); err != nil {
		fmt.Fprintln(os.Stderr, "tailcompare:", err)
		os.Exit(1)
	}
}

// compare runs the selected followers one after another and prints a Markdown table.
func compare(out io.Writer, sc Scenario, only string) ([]Result, error) {
	var results []Result
	kinds := "mixed rename/copytruncate/recreate"
	if len(sc.Kinds) > 0 {
		var names []string
		for _, k := range sc.Kinds {
			names = append(names, kindNames[k])
		}
		kinds = strings.Join(names, "/") + " only"
	}
	fmt.Fprintf(out, "rotation torture: %d rounds (%s) at %d lines/s, seed %d\n\n", sc.Rounds, kinds, sc.Rate, sc.Seed)
	fmt.Fprintln(out, "| follower | written | delivered | lost | duplicated | garbled | errors | gate timeouts | wall s | CPU s |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, im := range impls {
		if only != "" && !strings.Contains(im.name, only) {
			continue
		}
		dir, err := os.MkdirTemp("", "tailcompare")
		if err != nil {
			return results, err
		}
		res, err := run(sc, im, dir)
		os.RemoveAll(dir)
		if err != nil {
			return results, fmt.Errorf("%s: %w", im.name, err)
		}
		printRow(out, res)
		results = append(results, res)
	}
	return results, nil
}

func printRow(out io.Writer, r Result) {
	stalled := ""
	if r.Stalled {
		stalled = " (stalled)"
	}
	fmt.Fprintf(out, "| %s | %d | %d | %d | %d | %d | %d | %d%s | %.1f | %.2f |\n", r.Impl, r.Written, r.Delivered,
		r.Lost, r.Dup, r.Garbled, r.LineErrs, r.GateTimeouts, stalled, r.Wall.Seconds(), r.CPU.Seconds())
	if len(r.Examples) > 0 {
		fmt.Fprintf(out, "|  e.g. %s |||||||||\n", strings.Join(r.Examples, "; "))
	}
}
