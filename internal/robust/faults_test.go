package robust_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// fault is one way an upstream can misbehave.
type fault string

const (
	faultHang    fault = "hang"      // accepts the request and never answers
	fault500     fault = "500"       // answers 500 with a short body
	faultGarbage fault = "garbage"   // answers 200 with bytes that are no valid document
	faultHuge    fault = "huge-body" // answers 200 with an endless, plausible-looking body
	faultDrip    fault = "slow-drip" // answers 200 and sends one byte every 200 ms
	faultReset   fault = "connection-reset"
)

// faultServer is an httptest server that misbehaves on every path.
type faultServer struct {
	*httptest.Server
	requests atomic.Int64 // requests received
	written  atomic.Int64 // body bytes written

	mu     sync.Mutex
	byPath map[string]int64 // body bytes written per "METHOD path", for the failure report
}

func (fs *faultServer) wrote(r *http.Request, n int) {
	fs.written.Add(int64(n))
	fs.mu.Lock()
	fs.byPath[r.Method+" "+r.URL.Path] += int64(n)
	fs.mu.Unlock()
}

// paths renders the bytes sent per request path, largest first.
func (fs *faultServer) paths() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	keys := make([]string, 0, len(fs.byPath))
	for k := range fs.byPath {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fs.byPath[keys[i]] > fs.byPath[keys[j]] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s: %d MiB;", k, fs.byPath[k]>>20)
	}
	return b.String()
}

// hugeUnit returns a prefix and an endlessly repeated unit that keep the source's decoder
// reading: one JSON string for ipamd (the decoder must buffer a token), exposition lines for
// the CNI metrics, plain text for IMDS.
func hugeUnit(source string) (prefix, unit []byte) {
	switch source {
	case nodestate.SourceIPAMD:
		return []byte(`{"eni-0a1b2c3d4e5f60718":{"ID":"eni-0a1b2c3d4e5f60718","DeviceNumber":0,"IPv4Addresses":"`), bytes.Repeat([]byte("A"), 32<<10)
	case nodestate.SourceCNIMetrics:
		return []byte("# TYPE awscni_total_ip_addresses gauge\n"), bytes.Repeat([]byte("awscni_total_ip_addresses 42\n"), 1024)
	default:
		return nil, bytes.Repeat([]byte("i-0d3c5e7a9b1f24680"), 2048)
	}
}

// garbageBody is deterministic binary junk with JSON and exposition punctuation mixed in.
func garbageBody() []byte {
	var b bytes.Buffer
	x := uint32(2463534242)
	for i := 0; i < 4096; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte(byte(x))
		if i%97 == 0 {
			b.WriteString(`{"[:,}` + "\n# \x00")
		}
	}
	return b.Bytes()
}

func newFaultServer(t *testing.T, source string, f fault) *faultServer {
	t.Helper()
	stop := make(chan struct{})
	fs := &faultServer{byPath: map[string]int64{}}
	prefix, unit := hugeUnit(source)
	junk := garbageBody()
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.requests.Add(1)
		switch f {
		case faultHang:
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		case fault500:
			http.Error(w, "internal error", http.StatusInternalServerError)
		case faultGarbage:
			w.WriteHeader(http.StatusOK)
			n, _ := w.Write(junk)
			fs.wrote(r, n)
		case faultHuge:
			w.WriteHeader(http.StatusOK)
			n, err := w.Write(prefix)
			fs.wrote(r, n)
			for total := int64(n); err == nil && total < 1<<30; total += int64(n) {
				n, err = w.Write(unit)
				fs.wrote(r, n)
			}
		case faultDrip:
			w.WriteHeader(http.StatusOK)
			fl, _ := w.(http.Flusher)
			body := append(append([]byte(nil), prefix...), unit...)
			for i := 0; ; i++ {
				if _, err := w.Write(body[i%len(body) : i%len(body)+1]); err != nil {
					return
				}
				fs.wrote(r, 1)
				if fl != nil {
					fl.Flush()
				}
				select {
				case <-r.Context().Done():
					return
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		case faultReset:
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Errorf("response writer cannot hijack")
				return
			}
			conn, _, err := hj.Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close sends RST instead of FIN
			}
			conn.Close()
		}
	}))
	t.Cleanup(fs.Close)
	t.Cleanup(func() { close(stop) }) // runs first: releases hung handlers so Close returns
	return fs
}

// pointAt enables only the faulty source in cfg.
func pointAt(cfg *agent.Config, source, url string) {
	switch source {
	case nodestate.SourceIPAMD:
		cfg.IPAMDAddress = url
		cfg.DisableIMDS = true
	case nodestate.SourceCNIMetrics:
		cfg.CNIMetricsURL = url + "/metrics"
		cfg.DisableIMDS = true
	case nodestate.SourceIMDS:
		cfg.IMDSEndpoint = url
	}
}

// TestSourceFaults injects every fault into every polled source. Each case asserts that
// /metrics keeps answering (within scrapeBound) while the fault is live, and that the agent
// reports the source down with failed polls counted.
func TestSourceFaults(t *testing.T) {
	t.Parallel()
	sources := []string{nodestate.SourceIPAMD, nodestate.SourceCNIMetrics, nodestate.SourceIMDS}
	faults := []fault{faultHang, fault500, faultGarbage, faultHuge, faultDrip, faultReset}
	for _, source := range sources {
		for _, f := range faults {
			t.Run(source+"/"+string(f), func(t *testing.T) {
				t.Parallel()
				srv := newFaultServer(t, source, f)
				cfg := agent.Config{
					IntervalIPAMD: time.Second, IntervalCNI: time.Second, IntervalIMDS: time.Second,
					SourceTimeout: 2 * time.Second,
				}
				pointAt(&cfg, source, srv.URL)
				base := runAgent(t, cfg)
				upSeries := fmt.Sprintf(`ipamwatch_source_up{source=%q}`, source)
				errSeries := fmt.Sprintf(`ipamwatch_source_errors_total{source=%q}`, source)
				testtools.WaitFor(t, waitLimit, "the fault server to be asked", func() bool { return srv.requests.Load() > 0 })
				var body string
				testtools.WaitFor(t, waitLimit, "two failed polls of "+source, func() bool {
					body = scrape(t, base)
					n, _ := sample(body, errSeries)
					return n >= 2
				})
				if up, ok := sample(body, upSeries); !ok || up != 0 {
					t.Fatalf("%s = %v (present %v), want 0", upSeries, up, ok)
				}
				// The scrape is still served while the fault goes on.
				scrape(t, base)
			})
		}
	}
}

// TestHungSourceScrapeAndReadiness keeps a poll in flight far longer than scrapeBound (the
// source timeout is a minute): scrapes must answer from the snapshot meanwhile, the source is
// reported down (never succeeded) and the agent is not ready.
func TestHungSourceScrapeAndReadiness(t *testing.T) {
	t.Parallel()
	for _, source := range []string{nodestate.SourceIPAMD, nodestate.SourceCNIMetrics, nodestate.SourceIMDS} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			srv := newFaultServer(t, source, faultHang)
			cfg := agent.Config{SourceTimeout: time.Minute}
			pointAt(&cfg, source, srv.URL)
			base := runAgent(t, cfg)
			testtools.WaitFor(t, waitLimit, "the poll to be in flight", func() bool { return srv.requests.Load() > 0 })
			for range 3 {
				body := scrape(t, base)
				series := fmt.Sprintf(`ipamwatch_source_up{source=%q}`, source)
				if up, ok := sample(body, series); !ok || up != 0 {
					t.Fatalf("%s = %v (present %v), want 0 while the first poll hangs", series, up, ok)
				}
			}
			code, _, err := get(base+"/readyz", scrapeBound)
			if err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz = %d, %v; want 503 while the first poll hangs", code, err)
			}
		})
	}
}

// TestHugeBodyMemoryBounded polls endless bodies from every source several times and checks
// that the process heap stays far below what buffering one body would take (the server sends
// up to 1 GiB per request; the clients bound what they read). For IMDS every path answers
// endlessly, the IMDSv2 token included: the AWS SDK reads that answer itself, so the bound
// must sit in the transport collectors/imds gives the SDK (it measured 1.2 GiB before).
func TestHugeBodyMemoryBounded(t *testing.T) {
	// Not parallel: HeapInuse is process-wide, and other tests' garbage must not count.
	const polls = 5
	const heapCap = 32 << 20 // measured 4 to 7 MiB; 256 MiB before the decoders streamed
	for _, source := range []string{nodestate.SourceIPAMD, nodestate.SourceCNIMetrics, nodestate.SourceIMDS} {
		t.Run(source, func(t *testing.T) {
			srv := newFaultServer(t, source, faultHuge)
			cfg := agent.Config{IntervalIPAMD: time.Second, IntervalCNI: time.Second, IntervalIMDS: time.Second, SourceTimeout: 5 * time.Second}
			pointAt(&cfg, source, srv.URL)
			base := runAgent(t, cfg)
			errSeries := fmt.Sprintf(`ipamwatch_source_errors_total{source=%q}`, source)
			var peak uint64
			testtools.WaitFor(t, waitLimit, fmt.Sprintf("%d failed polls of %s", polls, source), func() bool {
				if h := heapInuse(); h > peak {
					peak = h
				}
				n, _ := sample(scrape(t, base), errSeries)
				return n >= polls
			})
			if h := heapInuse(); h > peak {
				peak = h
			}
			t.Logf("%s: %d requests, %d MiB sent (%s), peak HeapInuse %d MiB", source, srv.requests.Load(), srv.written.Load()>>20, srv.paths(), peak>>20)
			if peak > heapCap {
				t.Fatalf("HeapInuse peaked at %d MiB after huge bodies, cap %d MiB", peak>>20, heapCap>>20)
			}
		})
	}
}
