package robust_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// scrapeBound is how long a scrape may take while an upstream misbehaves. Generous on
// purpose: it is far above a normal scrape (milliseconds) and far below the faults' own
// durations (a hung upstream never answers), so a scrape that waited on an upstream fails.
const scrapeBound = 20 * time.Second

// runAgent starts the real agent (HTTP server included) on a free loopback port and stops it
// in t.Cleanup, failing the test if Run returns an error.
func runAgent(t *testing.T, cfg agent.Config) string {
	t.Helper()
	port := testtools.FreePort(t)
	cfg.ListenAddresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	if cfg.Kubernetes == "" {
		cfg.Kubernetes = "off"
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("agent Run did not return within 30 s of cancel")
		}
	})
	base := "http://" + cfg.ListenAddresses[0]
	testtools.WaitFor(t, waitLimit, "agent serving /healthz", func() bool {
		code, _, err := get(base+"/healthz", 2*time.Second)
		return err == nil && code == http.StatusOK
	})
	return base
}

// waitLimit bounds each wait of the agent under injected faults.
const waitLimit = 90 * time.Second

// get is testtools.Get (one connection per request, the body up to 64 MiB).
var get = testtools.Get

// scrape reads /metrics and fails the test unless it answers 200 within scrapeBound.
func scrape(t *testing.T, base string) string {
	t.Helper()
	code, body, err := get(base+"/metrics", scrapeBound)
	if err != nil {
		t.Fatalf("scrape did not answer within %s: %v", scrapeBound, err)
	}
	if code != http.StatusOK {
		t.Fatalf("scrape status %d: %.300s", code, body)
	}
	return body
}

// sample returns the value of the exact series `name{labels}` in a text exposition.
func sample(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// ownSeries lists the agent's own series (ipamwatch_*), sorted as exposed.
func ownSeries(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "ipamwatch_") {
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				out = append(out, l[:i])
			}
		}
	}
	return out
}

// heapInuse returns HeapInuse after a GC, so that garbage does not count.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
