// Command ipamwatch tells EKS operators why pods cannot get an IP address.
//
// Subcommands live one per file in this package; main only dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipamwatch/ipamwatch/internal/version"
)

// streams are the process's standard streams, passed explicitly so commands are testable.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, s streams) int
}

func commands() []command {
	return []command{
		{"run", "run the node agent: poll sources, tail logs, serve /metrics and /diagnosis", cmdRun},
		{"demo", "run the agent against a simulated node on loopback", cmdDemo},
		{"diagnose", "one-shot triage of this node or of a log-collector bundle", cmdDiagnose},
		{"classify", "classify ipamd/plugin log lines by failure class", cmdClassify},
		{"maxpods", "compute kubelet max-pods and show the arithmetic", cmdMaxPods},
		{"subnets", "cluster-level subnet view: free addresses and free /28 blocks", cmdSubnets},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, s streams) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(s.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], s)
		}
	}
	fmt.Fprintf(s.err, "ipamwatch: unknown command %q\n\n", args[0])
	usage(s.err)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ipamwatch <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'ipamwatch <command> -h' for a command's flags.")
}

func cmdVersion(_ context.Context, _ []string, s streams) int {
	fmt.Fprintln(s.out, version.String())
	return 0
}
