// Command scrape-latency measures /metrics latency of the real agent binary under concurrent
// scrapers, twice: with every upstream healthy (the simulated `large` node) and with the ipamd
// introspection endpoint hung (a loopback server that accepts and never answers). Scrapes read
// the agent's last snapshot, so a hung upstream must not show up in scrape latency; the second
// run proves it and checks that the agent reports the source down.
//
// Usage: go run ./bench/scrape-latency [--agent bin/ipamwatch] [--requests 2000] [--concurrency 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ipamwatch/ipamwatch/bench/internal/agentproc"
	"github.com/ipamwatch/ipamwatch/demo"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scrape-latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("agent", "bin/ipamwatch", "ipamwatch binary to measure")
	requests := fs.Int("requests", 2000, "scrapes per run")
	conc := fs.Int("concurrency", 10, "concurrent scrapers")
	scenario := fs.String("scenario", "large", "demo scenario")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *requests < 1 || *conc < 1 {
		fmt.Fprintln(stderr, "scrape-latency: --requests and --concurrency must be positive")
		return 2
	}
	spec, err := demo.Lookup(*scenario)
	if err != nil {
		fmt.Fprintln(stderr, "scrape-latency:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "ipamwatch-scrape-latency-")
	if err != nil {
		fmt.Fprintln(stderr, "scrape-latency:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node, err := demo.Start(ctx, spec, dir, demo.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "scrape-latency:", err)
		return 1
	}
	defer node.Close()

	hung, err := startHungServer()
	if err != nil {
		fmt.Fprintln(stderr, "scrape-latency:", err)
		return 1
	}
	defer hung.Close()

	common := []string{"--node-name", node.NodeName, "--kubernetes=off",
		"--cni.metrics-url", node.CNIMetricsURL, "--imds.endpoint", node.IMDSEndpoint,
		"--log.ipamd", node.IPAMDLog, "--log.plugin", node.PluginLog,
		// Short intervals keep a poll in flight most of the time (the hung case always has one).
		"--interval.ipamd=1s", "--interval.cni=1s"}
	runs := []struct {
		name, ipamd string
		wantUp      float64
	}{
		{"healthy", node.IPAMDAddress, 1},
		{"ipamd-hung", "http://" + hung.Addr().String(), 0},
	}
	var results []agentproc.Quantiles
	for _, r := range runs {
		// A hung first poll holds readiness for the source timeout (10 s).
		a, err := agentproc.Start(*bin, append([]string{"--ipamd.address", r.ipamd}, common...), 60*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "scrape-latency %s: %v\n", r.name, err)
			return 1
		}
		q, failures, body, err := load(a.Base+"/metrics", *requests, *conc)
		a.Stop()
		if err != nil {
			fmt.Fprintf(stderr, "scrape-latency %s: %v\n", r.name, err)
			return 1
		}
		up, ok := agentproc.Sample(body, `ipamwatch_source_up{source="ipamd"}`)
		fmt.Fprintf(stdout, "%-11s n=%d concurrency=%d failures=%d p50 %s ms p99 %s ms max %s ms; body %d bytes, %d series; ipamd up=%v\n",
			r.name, q.N, *conc, failures, agentproc.Ms(q.P50), agentproc.Ms(q.P99), agentproc.Ms(q.Max), len(body), agentproc.SeriesCount(body), up)
		if failures > 0 {
			fmt.Fprintf(stderr, "scrape-latency %s: %d scrapes failed\n", r.name, failures)
			return 1
		}
		if !ok || up != r.wantUp {
			fmt.Fprintf(stderr, "scrape-latency %s: ipamwatch_source_up{source=\"ipamd\"} = %v (present %v), want %v\n", r.name, up, ok, r.wantUp)
			return 1
		}
		results = append(results, q)
	}
	h, g := results[0], results[1]
	fmt.Fprintf(stdout, "scrape-latency: healthy p50 %s ms p99 %s ms; ipamd hung p50 %s ms p99 %s ms (p99 ratio hung/healthy %.2f)\n",
		agentproc.Ms(h.P50), agentproc.Ms(h.P99), agentproc.Ms(g.P50), agentproc.Ms(g.P99), float64(g.P99)/float64(h.P99))
	return 0
}

// load runs requests GETs of url from conc workers and returns the latency quantiles of the
// successful ones, the failure count and the last body.
func load(url string, requests, conc int) (agentproc.Quantiles, int, []byte, error) {
	client := &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: false},
	}
	defer client.CloseIdleConnections()
	jobs := make(chan struct{})
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, requests)
		failures int
		last     []byte
		wg       sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				start := time.Now()
				resp, err := client.Get(url)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					failures++
				} else {
					lat = append(lat, d)
					last = body
				}
				mu.Unlock()
			}
		}()
	}
	for range requests {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	q, err := agentproc.Summarize(lat)
	return q, failures, last, err
}

// hungServer accepts connections, reads what arrives and never answers, until closed.
type hungServer struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startHungServer() (*hungServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hungServer{l: l}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return h, nil
}

func (h *hungServer) Addr() net.Addr { return h.l.Addr() }

func (h *hungServer) Close() {
	h.l.Close()
	h.mu.Lock()
	for _, c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
