// Command detect-latency measures how long the real agent binary takes from an error line
// being appended to ipamd.log until the class counter moves on /metrics. The log is written
// by this program alone: routine ipamd debug lines at --noise lines/s (the `large` node's
// rate) plus one subnet_exhausted error line per trial, each write a whole line so nothing
// interleaves. The other sources point at a simulated `large` node, as in production.
//
// A trial: read the counter, append the line, poll /metrics every --poll until the counter
// is higher, record the time since the write returned. Trials start at random offsets so
// they do not lock onto the tailer's poll period.
//
// Usage: go run ./bench/detect-latency [--agent bin/ipamwatch] [--trials 200]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipamwatch/ipamwatch/bench/internal/agentproc"
	"github.com/ipamwatch/ipamwatch/demo"
)

const series = `ipamwatch_log_events_total{class="subnet_exhausted",log="ipamd"}`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detect-latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("agent", "bin/ipamwatch", "ipamwatch binary to measure")
	trials := fs.Int("trials", 200, "error lines to time")
	noise := fs.Int("noise", 180, "routine lines per second written around the trials")
	poll := fs.Duration("poll", 5*time.Millisecond, "how often /metrics is read during a trial")
	giveUp := fs.Duration("give-up", 10*time.Second, "a trial slower than this counts as missed")
	goal := fs.Duration("goal", time.Second, "p99 goal; the exit status is 1 when it is missed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *trials < 1 || *noise < 0 || *poll <= 0 {
		fmt.Fprintln(stderr, "detect-latency: --trials and --poll must be positive, --noise not negative")
		return 2
	}
	dir, err := os.MkdirTemp("", "ipamwatch-detect-latency-")
	if err != nil {
		fmt.Fprintln(stderr, "detect-latency:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec, err := demo.Lookup("large")
	if err != nil {
		fmt.Fprintln(stderr, "detect-latency:", err)
		return 1
	}
	node, err := demo.Start(ctx, spec, dir, demo.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "detect-latency:", err)
		return 1
	}
	defer node.Close()

	w, err := newLogWriter(filepath.Join(dir, "bench-ipamd.log"))
	if err != nil {
		fmt.Fprintln(stderr, "detect-latency:", err)
		return 1
	}
	defer w.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if *noise > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); w.noise(ctx, *noise) }()
	}

	a, err := agentproc.Start(*bin, []string{"--node-name", node.NodeName, "--kubernetes=off",
		"--ipamd.address", node.IPAMDAddress, "--cni.metrics-url", node.CNIMetricsURL, "--imds.endpoint", node.IMDSEndpoint,
		"--log.ipamd", w.path, "--log.plugin", ""}, 60*time.Second)
	if err != nil {
		fmt.Fprintln(stderr, "detect-latency:", err)
		return 1
	}
	defer a.Stop()

	lat := make([]time.Duration, 0, *trials)
	missed := 0
	for i := range *trials {
		time.Sleep(time.Duration(rand.Int64N(int64(300 * time.Millisecond))))
		before, err := counter(a.Base)
		if err != nil {
			fmt.Fprintln(stderr, "detect-latency:", err)
			return 1
		}
		written, err := w.errorLine(i)
		if err != nil {
			fmt.Fprintln(stderr, "detect-latency:", err)
			return 1
		}
		for {
			v, err := counter(a.Base)
			if err != nil {
				fmt.Fprintln(stderr, "detect-latency:", err)
				return 1
			}
			if v > before {
				lat = append(lat, time.Since(written))
				break
			}
			if time.Since(written) > *giveUp {
				missed++
				break
			}
			time.Sleep(*poll)
		}
	}
	q, err := agentproc.Summarize(lat)
	if err != nil {
		fmt.Fprintf(stderr, "detect-latency: every trial missed (%d)\n", missed)
		return 1
	}
	verdict := "meets"
	if missed > 0 || q.P99 >= *goal {
		verdict = "MISSES"
	}
	fmt.Fprintf(stdout, "detect-latency: n=%d missed=%d p50 %s ms p99 %s ms max %s ms (noise %d lines/s, poll %s); %s the %s goal\n",
		q.N, missed, agentproc.Ms(q.P50), agentproc.Ms(q.P99), agentproc.Ms(q.Max), *noise, *poll, verdict, *goal)
	if verdict != "meets" {
		return 1
	}
	return 0
}

func counter(base string) (float64, error) {
	code, body, err := agentproc.Get(base+"/metrics", 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("scraping: %w", err)
	}
	if code != 200 {
		return 0, fmt.Errorf("scraping: status %d", code)
	}
	v, _ := agentproc.Sample(body, series) // absent before the first event: 0
	return v, nil
}

// logWriter appends whole zap-format lines with single writes, so the noise and the trial
// lines never interleave inside a line.
type logWriter struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func newLogWriter(path string) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &logWriter{path: path, f: f}, nil
}

func (w *logWriter) write(line string) (time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.f.WriteString(line)
	return time.Now(), err
}

func ts() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func (w *logWriter) errorLine(i int) (time.Time, error) {
	return w.write(fmt.Sprintf(`{"level":"error","ts":%q,"caller":"ipamd/ipamd.go:1010","msg":"Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: failed to create network interface: operation error EC2: CreateNetworkInterface, https response error StatusCode: 400, RequestID: 0b7d3c2e-1f4a-4b6c-8d9e-%012x, api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses to satisfy the request."}`+"\n", ts(), i))
}

// noise writes perSecond routine debug lines a second, in ten batches.
func (w *logWriter) noise(ctx context.Context, perSecond int) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	acc, n := 0.0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		acc += float64(perSecond) / 10
		var b []byte
		for ; acc >= 1; acc-- {
			n++
			b = fmt.Appendf(b, `{"level":"debug","ts":%q,"caller":"ipamd/ipamd.go:612","msg":"Reconcile existing ENI eni-0a1b2c3d4e5f%05d IP pool"}`+"\n", ts(), n%15)
		}
		if len(b) > 0 {
			if _, err := w.write(string(b)); err != nil {
				return
			}
		}
	}
}

func (w *logWriter) close() { w.f.Close() }
