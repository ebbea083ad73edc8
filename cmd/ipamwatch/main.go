// Command ipamwatch tells EKS operators why pods cannot get an IP address.
//
// The command line is kingpin/v2, as in Prometheus, Alertmanager, promtool and the
// exporters: exporter-toolkit's listener flags (kingpinflag) and promslog's --log.level and
// --log.format come ready-made for it, and users of those tools find the same help layout,
// the same --no-FLAG negation, --version and shell completion. Each command lives in its
// own file, declares only the flags it uses on its kingpin clause and returns the function
// that runs it; main parses, dispatches and exits. docs/cli.md is the reference.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/version"
)

// streams are the process's standard streams, passed explicitly so commands are testable.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Exit codes, documented in the README and docs/cli.md.
const (
	// exitOK: the command ran; diagnose found nothing critical.
	exitOK = 0
	// exitError: a usage error (unknown flag, bad value, left-out command of the agent-only
	// build), an I/O error (unreadable file or bundle, unreachable EC2), or the run was
	// interrupted before it finished.
	exitError = 1
	// exitCritical: diagnose ran and found at least one critical finding. 3 rather than 2:
	// 2 meant "usage error" in earlier builds, and promtool also answers 3 for "ran, and
	// found problems" (lint failures).
	exitCritical = 3
)

// interruptGrace is how long main waits, after the first SIGINT or SIGTERM, for the command
// to return on its own (the agent's graceful shutdown takes up to 5 s) before it exits
// anyway. A second signal exits at once.
const interruptGrace = 10 * time.Second

func main() {
	stampVersion()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	s := streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	done := make(chan int, 1)
	go func() { done <- dispatch(ctx, os.Args[1:], s) }()
	var code int
	select {
	case code = <-done:
	case <-ctx.Done():
		stop() // from now on a second signal ends the process the default way
		select {
		case code = <-done:
		case <-time.After(interruptGrace):
			fmt.Fprintln(s.err, "ipamwatch: interrupted; the command did not stop within", interruptGrace)
			code = exitError
		}
	}
	stop()
	os.Exit(code)
}

// stampVersion fills prometheus/common's version when the linker did not (`go install
// ...@vX.Y.Z`, or `go build` in a checkout: the go command records the module version).
func stampVersion() {
	if version.Version != "" {
		return
	}
	version.Version = "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version.Version = strings.TrimPrefix(bi.Main.Version, "v")
	}
}
