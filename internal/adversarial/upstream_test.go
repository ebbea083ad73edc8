package adversarial_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// agentRSSCap is the agent's goal under any upstream attack: half the chart's 128Mi memory
// limit (charts/ipamwatch/values.yaml), so a 2x margin remains.
const agentRSSCap = 64 * mib

// upstream is a hostile local server standing in for ipamd, aws-node's metrics or IMDS.
type upstream struct {
	*httptest.Server
	requests atomic.Int64
	stop     chan struct{}
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{stop: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	t.Cleanup(func() { close(u.stop) }) // runs first: releases dripping handlers
	return u
}

// endless answers 200 with prefix and then unit forever (up to 4 GiB).
func endless(prefix, unit []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(prefix); err != nil {
			return
		}
		for n := 0; n < 4<<30; n += len(unit) {
			if _, err := w.Write(unit); err != nil {
				return
			}
		}
	}
}

// drip answers 200 and sends one byte of body every 200 ms until the client gives up.
func (u *upstream) drip(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		for i := 0; ; i++ {
			if _, err := w.Write(body[i%len(body) : i%len(body)+1]); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-u.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// sourceArgs points the agent's source at u.
func sourceArgs(source, url string) []string {
	switch source {
	case "ipamd":
		return []string{"--ipamd.address", url}
	case "cni_metrics":
		return []string{"--cni.metrics-url", url + "/metrics"}
	default:
		return []string{"--imds.endpoint", url}
	}
}

// failedPolls waits until the agent counted n failed polls of source and returns the scrape.
func failedPolls(t *testing.T, a *agentProc, source string, n float64) string {
	t.Helper()
	series := fmt.Sprintf(`ipamwatch_source_errors_total{source=%q}`, source)
	var body string
	testtools.WaitFor(t, waitLimit, fmt.Sprintf("%v failed polls of %s", n, source), func() bool {
		body = a.scrape(t)
		v, _ := sample(body, series)
		return v >= n
	})
	if up, ok := sample(body, fmt.Sprintf(`ipamwatch_source_up{source=%q}`, source)); !ok || up != 0 {
		t.Errorf("%s: source_up = %v (present %v), want 0", source, up, ok)
	}
	return body
}

func checkAgentRSS(t *testing.T, what string, a *agentProc) {
	t.Helper()
	rss := a.peakRSS(t)
	t.Logf("%s: agent peak RSS %d MiB", what, rss/mib)
	if rss > agentRSSCap {
		t.Errorf("%s: agent peak RSS %d MiB, goal under %d MiB", what, rss/mib, agentRSSCap/mib)
	}
}

// Endless bodies from every source: each client reads to its bound and fails the poll;
// scrapes keep answering and the agent's memory stays under the goal.
func TestUpstreamEndless(t *testing.T) {
	t.Parallel()
	units := map[string][2][]byte{
		"ipamd":       {[]byte(`{"0":{"ENIs":{"eni-0a1b2c3d4e5f60718":{"ID":"`), bytes.Repeat([]byte("A"), 64<<10)},
		"cni_metrics": {[]byte("# TYPE awscni_total_ip_addresses gauge\n"), bytes.Repeat([]byte("awscni_total_ip_addresses 42\n"), 2048)},
		"imds":        {nil, bytes.Repeat([]byte("i-0d3c5e7a9b1f24680"), 4096)},
	}
	for source, u := range units {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			srv := newUpstream(t, endless(u[0], u[1]))
			a := startAgent(t, sourceArgs(source, srv.URL)...)
			failedPolls(t, a, source, 5)
			checkAgentRSS(t, "endless "+source, a)
		})
	}
}

// A body dripped one byte at a time is cut off by the source's timeout; scrapes answer
// meanwhile.
func TestUpstreamDrip(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"ipamd", "cni_metrics", "imds"} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			var srv *upstream
			srv = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				srv.drip([]byte(`{"0":{"TotalIPs":1}}`))(w, r)
			})
			a := startAgent(t, sourceArgs(source, srv.URL)...)
			failedPolls(t, a, source, 2)
			checkAgentRSS(t, "drip "+source, a)
		})
	}
}

// A valid /v1/enis of 16 MiB listing 140,000 ENIs: refused past 128 ENIs with an error
// that says so; scrapes keep answering 200 (before: 1-4 GB of agent memory and 503s).
func TestUpstreamHugeValidENIs(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.WriteString(`{"0":{"TotalIPs":0,"AssignedIPs":0,"ENIs":{`)
	for i := range 140_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"eni-%017x":{"ID":"eni-%017x","DeviceNumber":%d,"AvailableIPv4Cidrs":{"10.%d.%d.%d/32":{}}}`, i, i, i, (i>>16)&255, (i>>8)&255, i&255)
	}
	b.WriteString(`}}}`)
	body := b.Bytes()
	if len(body) > 16*mib {
		t.Fatalf("body %d bytes, over the 16 MiB body cap: it would test the wrong bound", len(body))
	}
	srv := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	a := startAgent(t, "--ipamd.address", srv.URL)
	failedPolls(t, a, "ipamd", 5)
	checkAgentRSS(t, fmt.Sprintf("valid /v1/enis of %.1f MB, 140,000 ENIs", float64(len(body))/1e6), a)
	if log := a.log(t); !strings.Contains(log, "implausible ipamd answer: more than 128 ENIs") {
		t.Errorf("the agent's log does not say why /v1/enis was refused:\n%.2000s", log)
	}
}

// cniPage is an aws-node page with samples no node can produce.
const cniPage = `# TYPE awscni_eni_max gauge
awscni_eni_max %s
# TYPE awscni_ip_max gauge
awscni_ip_max 27
# TYPE awscni_aws_api_error_count counter
awscni_aws_api_error_count{api="AssignPrivateIpAddresses",error="InsufficientFreeAddressesInSubnet"} %s
# TYPE awscni_no_available_ip_addresses counter
awscni_no_available_ip_addresses %s
`

// NaN, ±Inf and 1e300 between good pages: the counters stay finite and right, the samples
// are counted as dropped, and max_enis is unknown, never an overflowed integer (before:
// +Inf, then NaN, until restart, and max_enis -9223372036854775808).
func TestUpstreamNonFiniteSamples(t *testing.T) {
	t.Parallel()
	pages := [][3]string{
		{"3", "10", "5"}, {"NaN", "+Inf", "NaN"}, {"1e300", "1e300", "-Inf"}, {"3", "12", "7"}, {"+Inf", "NaN", "1e300"}, {"3", "13", "9"},
	}
	var n atomic.Int64
	srv := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		p := pages[min(int(n.Add(1))-1, len(pages)-1)]
		fmt.Fprintf(w, cniPage, p[0], p[1], p[2])
	})
	a := startAgent(t, "--cni.metrics-url", srv.URL+"/metrics")
	var body string
	testtools.WaitFor(t, waitLimit, "every page polled", func() bool {
		body = a.scrape(t)
		return n.Load() > int64(len(pages)+1)
	})
	body = a.scrape(t)
	apiErr, _ := sample(body, `ipamwatch_cni_aws_api_errors_total{code="InsufficientFreeAddressesInSubnet"}`)
	noIP, _ := sample(body, `ipamwatch_cni_no_available_ip_total`)
	if apiErr != 3 || noIP != 4 {
		t.Errorf("counters = %v and %v, want 3 (13-10) and 4 (9-5): corrupted by the bad pages", apiErr, noIP)
	}
	nonFinite, _ := sample(body, `ipamwatch_cni_samples_dropped_total{reason="non_finite"}`)
	implausible, _ := sample(body, `ipamwatch_cni_samples_dropped_total{reason="implausible"}`)
	if nonFinite != 6 || implausible != 3 {
		t.Errorf("dropped samples = %v non-finite, %v implausible; want 6 and 3", nonFinite, implausible)
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "ipamwatch_") && (strings.HasSuffix(line, " NaN") || strings.HasSuffix(line, "Inf")) {
			t.Errorf("non-finite series: %s", line)
		}
	}
	_, js, err := get(a.base+"/diagnosis", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Capacity map[string]any `json:"capacity"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	for k, v := range rep.Capacity {
		if f, ok := v.(float64); ok && (f < -1 || f > math.MaxInt32) {
			t.Errorf("capacity %s = %v: an overflowed integer", k, f)
		}
	}
	checkAgentRSS(t, "non-finite CNI samples", a)
}

// A page that lists a kept family twice is refused with a clear error instead of counted
// twice.
func TestUpstreamDuplicateFamilies(t *testing.T) {
	t.Parallel()
	page := strings.Repeat("# TYPE awscni_aws_api_error_count counter\nawscni_aws_api_error_count{error=\"Throttling\"} 1\n# TYPE go_goroutines gauge\ngo_goroutines 9\n", 3)
	srv := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) })
	a := startAgent(t, "--cni.metrics-url", srv.URL+"/metrics")
	failedPolls(t, a, "cni_metrics", 2)
	if log := a.log(t); !strings.Contains(log, "metric family listed twice: awscni_aws_api_error_count") {
		t.Errorf("the agent's log does not name the duplicate family:\n%.2000s", log)
	}
	checkAgentRSS(t, "duplicate families", a)
}

// An IMDS that requires IMDSv2 and refuses the token: reported as the 401 it is, not as a
// timeout.
func TestUpstreamIMDSUnauthorized(t *testing.T) {
	t.Parallel()
	srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = w.Write([]byte("AQAEAFAKE-token=="))
			return
		}
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	})
	a := startAgent(t, "--imds.endpoint", srv.URL)
	failedPolls(t, a, "imds", 2)
	log := a.log(t)
	if !strings.Contains(log, "IMDSv2 token refused (HTTP 401") || strings.Contains(log, "did not answer in time") {
		t.Errorf("the agent's log does not report the 401:\n%.2000s", log)
	}
	checkAgentRSS(t, "IMDS 401", a)
}
