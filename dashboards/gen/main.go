// Command gen writes the Grafana dashboards' JSON and docs/dashboards.md. Run it through
// `go generate ./dashboards/...`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ipamwatch/ipamwatch/dashboards"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := dashboards.Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards/gen:", err)
		os.Exit(1)
	}
}
