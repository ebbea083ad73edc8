// Command gen writes the generated alerting files (rules, PrometheusRule, alert docs, runbooks)
// with the default parameters. Run it through `go generate ./alerts/...`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ipamwatch/ipamwatch/alerts"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := alerts.Write(*root, alerts.DefaultParams()); err != nil {
		fmt.Fprintln(os.Stderr, "alerts/gen:", err)
		os.Exit(1)
	}
}
