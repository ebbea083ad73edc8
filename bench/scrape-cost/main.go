// Command scrape-cost compares what one scrape costs several running exporters, the way
// Prometheus scrapes them: one client per target, a kept-alive connection, gzip, the
// Prometheus 2 Accept header, one scrape at a time. Targets are scraped in turn (round
// robin), so each sees the same machine load. For each target it reports the latency
// (p50, p99), the CPU the exporter's process spent per scrape (the growth of utime+stime in
// /proc/PID/stat over all its scrapes, divided by their number) and the number of series of
// the last answer. The first target is compared with every other one.
//
// Usage: scrape-cost --n 300 --target ipamwatch=http://127.0.0.1:9713/metrics,PID --target node_exporter=URL,PID
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/bench/internal/agentproc"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: 100 a second on Linux, whatever
// the kernel's own tick rate (getconf CLK_TCK).
const userHZ = 100

// promAccept is what Prometheus 2.x sends when scraping.
const promAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

type target struct {
	name, url string
	pid       int
	client    *http.Client
	lat       []time.Duration
	ticks0    int64
	series    int
	cpuPer    time.Duration
	q         agentproc.Quantiles
}

type targets []*target

func (ts *targets) String() string { return fmt.Sprint(len(*ts)) }

func (ts *targets) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	url, pidStr, ok2 := strings.Cut(rest, ",")
	pid, err := strconv.Atoi(pidStr)
	if !ok || !ok2 || err != nil || name == "" || url == "" {
		return fmt.Errorf("want NAME=URL,PID, got %q", v)
	}
	*ts = append(*ts, &target{name: name, url: url, pid: pid, client: &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}})
	return nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scrape-cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ts targets
	fs.Var(&ts, "target", "NAME=URL,PID of a running exporter (repeat; the first is compared with the others)")
	n := fs.Int("n", 300, "scrapes per target")
	pause := fs.Duration("pause", 20*time.Millisecond, "pause between two scrapes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(ts) < 2 || *n < 10 {
		fmt.Fprintln(stderr, "scrape-cost: want at least two --target and --n >= 10")
		return 2
	}
	var err error
	for _, t := range ts {
		if _, err := t.scrape(); err != nil { // warm the connection
			fmt.Fprintf(stderr, "scrape-cost: %s: %v\n", t.name, err)
			return 1
		}
		if t.ticks0, err = agentproc.CPUTicks(t.pid); err != nil {
			fmt.Fprintf(stderr, "scrape-cost: %s: %v\n", t.name, err)
			return 1
		}
	}
	for i := 0; i < *n; i++ {
		for _, t := range ts {
			d, err := t.scrape()
			if err != nil {
				fmt.Fprintf(stderr, "scrape-cost: %s: scrape %d: %v\n", t.name, i, err)
				return 1
			}
			t.lat = append(t.lat, d)
			time.Sleep(*pause)
		}
	}
	for _, t := range ts {
		ticks, err := agentproc.CPUTicks(t.pid)
		if err != nil {
			fmt.Fprintf(stderr, "scrape-cost: %s: %v\n", t.name, err)
			return 1
		}
		t.cpuPer = time.Duration(float64(ticks-t.ticks0) / userHZ / float64(*n) * float64(time.Second))
		t.q, _ = agentproc.Summarize(t.lat)
		fmt.Fprintf(stdout, "%-14s n=%d p50 %s ms p99 %s ms; CPU %.3f ms/scrape; %d series\n",
			t.name, t.q.N, agentproc.Ms(t.q.P50), agentproc.Ms(t.q.P99), float64(t.cpuPer)/1e6, t.series)
	}
	first := ts[0]
	for _, o := range ts[1:] {
		fmt.Fprintf(stdout, "scrape-cost: %s/%s: latency p50 %.2f p99 %.2f, CPU per scrape %.2f\n", first.name, o.name,
			ratio(float64(first.q.P50), float64(o.q.P50)), ratio(float64(first.q.P99), float64(o.q.P99)), ratio(float64(first.cpuPer), float64(o.cpuPer)))
	}
	return 0
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// scrape fetches the page as Prometheus does and counts its series.
func (t *target) scrape() (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, t.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", promAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	d := time.Since(start) // the page as sent; inflating it is the client's cost
	if err != nil {
		return 0, err
	}
	var r io.Reader = bytes.NewReader(raw)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return 0, err
		}
		r = gz
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	t.series = agentproc.SeriesCount(body)
	return d, nil
}
