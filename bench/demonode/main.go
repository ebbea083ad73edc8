// Command demonode runs one simulated EKS node (demo.Start: ipamd introspection, aws-node
// metrics, IMDS, ipamd.log and plugin.log, and its view of the Kubernetes API over TLS with a
// bearer token) in its own process, so that benchmarks can run
// `ipamwatch run` against it and measure the agent's process alone. It prints the endpoints
// as KEY=value lines (shell-sourceable) on stdout, optionally into --env-file, and runs until
// SIGINT/SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ipamwatch/ipamwatch/demo"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demonode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "large", "demo scenario to simulate")
	dir := fs.String("dir", "", "directory for ipamd.log and plugin.log (default: a new temporary directory, removed at exit)")
	tick := fs.Duration("tick", time.Second, "simulation step")
	envFile := fs.String("env-file", "", "also write the KEY=value lines to this file (written atomically once the node serves)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec, err := demo.Lookup(*scenario)
	if err != nil {
		fmt.Fprintln(stderr, "demonode:", err)
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ipamwatch-demonode-")
		if err != nil {
			fmt.Fprintln(stderr, "demonode:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	node, err := demo.Start(ctx, spec, *dir, demo.Options{Tick: *tick})
	if err != nil {
		fmt.Fprintln(stderr, "demonode:", err)
		return 1
	}
	defer node.Close()
	env := fmt.Sprintf("IPAMD_ADDRESS=%s\nCNI_METRICS_URL=%s\nIMDS_ENDPOINT=%s\nIPAMD_LOG=%s\nPLUGIN_LOG=%s\nNODE_NAME=%s\nDEMONODE_PID=%d\n"+
		"KUBE_API_SERVER=%s\nKUBE_CA_FILE=%s\nKUBE_TOKEN_FILE=%s\n",
		node.IPAMDAddress, node.CNIMetricsURL, node.IMDSEndpoint, node.IPAMDLog, node.PluginLog, node.NodeName, os.Getpid(),
		node.KubeAPI.Host, node.KubeAPI.CAFile, node.KubeAPI.TokenFile)
	fmt.Fprint(stdout, env)
	if *envFile != "" {
		tmp := filepath.Join(filepath.Dir(*envFile), "."+filepath.Base(*envFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(env), 0o600); err != nil {
			fmt.Fprintln(stderr, "demonode:", err)
			return 1
		}
		if err := os.Rename(tmp, *envFile); err != nil {
			fmt.Fprintln(stderr, "demonode:", err)
			return 1
		}
	}
	<-ctx.Done()
	return 0
}
