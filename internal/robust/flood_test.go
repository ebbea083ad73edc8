package robust_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// floodRate is the flood: 100k error lines a second.
const floodRate = 100_000

// floodSeconds is 2 in CI; bench/run-all.sh sets IPAMWATCH_FLOOD_SECONDS=10 for the full run.
func floodSeconds(t *testing.T) int {
	s := os.Getenv("IPAMWATCH_FLOOD_SECONDS")
	if s == "" {
		return 2
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 600 {
		t.Fatalf("IPAMWATCH_FLOOD_SECONDS=%q: want whole seconds 1..600", s)
	}
	return n
}

// floodLine renders line i of the flood. Every line carries fresh ids (request, ENI, subnet,
// error code) so that any id leaking into a label would multiply the series. Kind 0 and 1
// have an unambiguous class (their EC2 error code), kind 2 is an unknown code, kind 3 a
// routine debug line.
func floodLine(b []byte, i int, r *rand.Rand, now time.Time) ([]byte, int) {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	kind := i % 4
	switch kind {
	case 0:
		b = fmt.Appendf(b, `{"level":"error","ts":%q,"caller":"ipamd/ipamd.go:1010","msg":"Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: failed to create network interface: operation error EC2: CreateNetworkInterface, https response error StatusCode: 400, RequestID: %08x-1f4a-4b6c-8d9e-%012x, api error InsufficientFreeAddressesInSubnet: The specified subnet subnet-%017x does not have enough free addresses to satisfy the request."}`+"\n", ts, r.Uint32(), r.Uint64()&0xffffffffffff, r.Uint64()&0xfffffffffffffff)
	case 1:
		b = fmt.Appendf(b, `{"level":"error","ts":%q,"caller":"ipamd/ipamd.go:1500","msg":"IP pool reconcile: failed to get attached ENIs: operation error EC2: DescribeNetworkInterfaces, exceeded maximum number of attempts, 10, https response error StatusCode: 503, RequestID: %08x-9586-4776-8899-%012x, api error RequestLimitExceeded: Request limit exceeded."}`+"\n", ts, r.Uint32(), r.Uint64()&0xffffffffffff)
	case 2:
		b = fmt.Appendf(b, `{"level":"error","ts":%q,"caller":"ipamd/ipamd.go:%d","msg":"Failed to reconcile ENI eni-%017x: operation error EC2: AssignPrivateIpAddresses, https response error StatusCode: 400, RequestID: %08x, api error Weird%dFault: pod default/web-%d failed"}`+"\n", ts, r.IntN(4000), r.Uint64()&0xfffffffffffffff, r.Uint32(), r.IntN(1e6), i)
	default:
		b = fmt.Appendf(b, `{"level":"debug","ts":%q,"caller":"ipamd/ipamd.go:612","msg":"Reconcile existing ENI eni-%017x IP pool"}`+"\n", ts, r.Uint64()&0xfffffffffffffff)
	}
	return b, kind
}

// TestLogFlood writes error lines at 100k lines/s into the tailed ipamd.log while the agent
// runs and scrapes it, then checks that every line was read, the unambiguous classes were
// counted exactly, the heap stayed bounded and the set of series did not change.
func TestLogFlood(t *testing.T) {
	// Not parallel: the heap cap is checked on the whole process.
	const heapCap = 128 << 20
	seconds := floodSeconds(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := runAgent(t, agent.Config{IPAMDLog: path, DisableIMDS: true, EventWindow: time.Minute})
	testtools.WaitFor(t, waitLimit, "the log to be followed", func() bool {
		v, _ := sample(scrape(t, base), `ipamwatch_log_file_readable{log="ipamd"}`)
		return v == 1
	})

	r := rand.New(rand.NewPCG(7, 11))
	var written, perKind [4]int64
	var total int64
	write := func(lines int) {
		t.Helper()
		var b []byte
		now := time.Now()
		for range lines {
			var k int
			b, k = floodLine(b, int(total), r, now)
			perKind[k]++
			total++
		}
		if _, err := f.Write(b); err != nil {
			t.Fatalf("writing the log: %v", err)
		}
		written = perKind
	}
	linesRead := func(body string) int64 {
		v, _ := sample(body, `ipamwatch_log_lines_total{log="ipamd"}`)
		return int64(v)
	}

	// Warm-up: every kind once, so every series the flood can create exists before it.
	write(8)
	var seriesBefore []string
	testtools.WaitFor(t, waitLimit, "the warm-up lines", func() bool {
		body := scrape(t, base)
		seriesBefore = ownSeries(body)
		return linesRead(body) == total
	})

	// Sample the heap and scrape while the flood runs.
	ctx, stop := context.WithCancel(context.Background())
	var peak atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			if h := heapInuse(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	start := time.Now()
	const batch = floodRate / 100 // every 10 ms
	for i := 1; i <= seconds*100; i++ {
		write(batch)
		if d := time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
	}
	elapsed := time.Since(start)
	var body string
	testtools.WaitFor(t, waitLimit, "the agent to read every flood line", func() bool {
		body = scrape(t, base)
		return linesRead(body) == total
	})
	stop()
	wg.Wait()
	if h := heapInuse(); h > peak.Load() {
		peak.Store(h)
	}
	t.Logf("flood: %d lines in %s (%.0f lines/s, %.1f MiB), caught up %s after the last write, peak HeapInuse %d MiB",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), float64(fileSize(t, path))/(1<<20),
		time.Since(start.Add(elapsed)).Round(time.Millisecond), peak.Load()>>20)

	for kind, series := range map[int]string{
		0: `ipamwatch_log_events_total{class="subnet_exhausted",log="ipamd"}`,
		1: `ipamwatch_log_events_total{class="ec2_throttled",log="ipamd"}`,
	} {
		if v, _ := sample(body, series); int64(v) != written[kind] {
			t.Errorf("%s = %v, want %d (every line of that kind)", series, v, written[kind])
		}
	}
	if diff := cmp.Diff(seriesBefore, ownSeries(body)); diff != "" {
		t.Errorf("series changed during the flood (-before +after):\n%s", diff)
	}
	if peak.Load() > heapCap {
		t.Errorf("HeapInuse peaked at %d MiB during the flood, cap %d MiB", peak.Load()>>20, heapCap>>20)
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
