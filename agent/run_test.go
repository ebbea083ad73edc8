package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// waitLimit bounds each wait of the agent against a demo node, on a loaded machine.
const waitLimit = 60 * time.Second

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// startAgent runs the real agent (HTTP server included) against a live demo node.
func startAgent(t *testing.T, scenario string, mutate func(*agent.Config)) (base string, node *demo.Node) {
	t.Helper()
	spec, err := demo.Lookup(scenario)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	node, err = demo.Start(ctx, spec, t.TempDir(), demo.Options{Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	port := testtools.FreePort(t)
	cfg := node.AgentConfig()
	cfg.ListenAddresses = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	cfg.IntervalIPAMD, cfg.IntervalCNI, cfg.IntervalIMDS, cfg.IntervalKube = time.Second, time.Second, time.Second, time.Second
	cfg.DiagnoseEvery = 200 * time.Millisecond
	cfg.SourceTimeout = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		node.Close()
	})
	runAgent(t, a) // stopped before the node: cleanups run last first
	return fmt.Sprintf("http://127.0.0.1:%d", port), node
}

// runAgent runs a in the background until the test ends.
func runAgent(t *testing.T, a *agent.Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent.Run: %v", err)
		}
	})
}

func TestRunServesAndDetects(t *testing.T) {
	t.Parallel()
	base, node := startAgent(t, "healthy", nil)
	testtools.WaitFor(t, waitLimit, "/readyz 200", func() bool { c, _ := get(t, base+"/readyz"); return c == 200 })
	if c, body := get(t, base+"/healthz"); c != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", c, body)
	}
	if c, _ := get(t, base+"/"); c != 200 {
		t.Fatalf("landing page = %d", c)
	}
	if c, _ := get(t, base+"/nope"); c != 404 {
		t.Fatalf("unknown path = %d, want 404", c)
	}
	c, body := get(t, base+"/diagnosis")
	if c != 200 {
		t.Fatalf("/diagnosis = %d", c)
	}
	var rep diagnosis.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/diagnosis JSON: %v", err)
	}
	if rep.Node.InstanceType != "m5.large" {
		t.Errorf("diagnosis node instance type %q, want m5.large", rep.Node.InstanceType)
	}
	// Each source's state is in /diagnosis too (a down source says why there).
	var withSources struct {
		Sources []struct {
			Name  string `json:"name"`
			Up    bool   `json:"up"`
			Error string `json:"error"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(body), &withSources); err != nil {
		t.Fatalf("/diagnosis JSON: %v", err)
	}
	var names []string
	for _, s := range withSources.Sources {
		names = append(names, s.Name)
		if !s.Up || s.Error != "" {
			t.Errorf("/diagnosis source %s: up %v, error %q; want up", s.Name, s.Up, s.Error)
		}
	}
	if !slices.Contains(names, "kubernetes") {
		t.Errorf("/diagnosis sources %v lack kubernetes", names)
	}
	if c, body := get(t, base+"/diagnosis?format=text"); c != 200 || !strings.Contains(body, "m5.large") {
		t.Errorf("/diagnosis?format=text = %d:\n%s", c, body)
	}

	// An error line appended to ipamd.log moves the class counter on /metrics.
	series := `ipamwatch_log_events_total{class="subnet_exhausted",log="ipamd"}`
	testtools.WaitFor(t, waitLimit, "log counters exported", func() bool { _, b := get(t, base+"/metrics"); _, ok := metricValue(b, series); return ok })
	_, body = get(t, base+"/metrics")
	before, _ := metricValue(body, series)
	f, err := os.OpenFile(node.IPAMDLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	line := `{"level":"error","ts":"2026-11-26T02:14:07.123Z","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size due to not able to allocate ENI: operation error EC2: CreateNetworkInterface, https response error StatusCode: 400, RequestID: 0c7d, api error InsufficientFreeAddressesInSubnet: The specified subnet subnet-0a1b2c3d4e5f60718 does not have enough free addresses."}` + "\n"
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testtools.WaitFor(t, waitLimit, "subnet_exhausted counter to move", func() bool {
		_, b := get(t, base+"/metrics")
		v, _ := metricValue(b, series)
		return v == before+1
	})
	for _, src := range []string{"ipamd", "cni_metrics", "imds", "kubernetes"} {
		testtools.WaitFor(t, waitLimit, src+" up", func() bool {
			_, b := get(t, base+"/metrics")
			v, _ := metricValue(b, `ipamwatch_source_up{source="`+src+`"}`)
			return v == 1
		})
	}
}

// A hung upstream never hangs the scrape: the agent serves its last snapshot.
func TestHungSourceDoesNotBlockScrape(t *testing.T) {
	t.Parallel()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	base, _ := startAgent(t, "healthy", func(c *agent.Config) {
		c.IPAMDAddress = hung.URL
		c.SourceTimeout = 300 * time.Millisecond
	})
	testtools.WaitFor(t, waitLimit, "ipamd source reported down", func() bool {
		_, b := get(t, base+"/metrics")
		v, ok := metricValue(b, `ipamwatch_source_up{source="ipamd"}`)
		return ok && v == 0
	})
	testtools.WaitFor(t, waitLimit, "ipamd_unreachable finding", func() bool {
		_, b := get(t, base+"/metrics")
		return regexp.MustCompile(`ipamwatch_finding\{cause="ipamd_unreachable",severity="[a-z]+"\} 1`).MatchString(b)
	})
}

// The metrics endpoint honours exporter-toolkit's web config (basic auth here).
func TestWebConfigBasicAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-for-test"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfgFile, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startAgent(t, "healthy", func(c *agent.Config) { c.WebConfigFile = cfgFile })
	testtools.WaitFor(t, waitLimit, "server up", func() bool { c, _ := get(t, base+"/metrics"); return c != 0 })
	if c, _ := get(t, base+"/metrics"); c != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials = %d, want 401", c)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.SetBasicAuth("prom", "s3cret-for-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with credentials = %d, want 200", resp.StatusCode)
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]agent.Config{
		"bad kubernetes mode": {Kubernetes: "maybe"},
		"events without kube": {Kubernetes: "off", Events: true},
		"tiny interval":       {Kubernetes: "off", IntervalIPAMD: time.Millisecond},
	} {
		if _, err := agent.New(c); err == nil {
			t.Errorf("%s: agent.New accepted it", name)
		}
	}
}

// --web.telemetry-path moves the metrics; the landing page links there; every other method
// than GET and HEAD is refused; /diagnosis carries its schema version.
func TestTelemetryPathLandingAndMethods(t *testing.T) {
	t.Parallel()
	base, _ := startAgent(t, "healthy", func(c *agent.Config) { c.TelemetryPath = "/custom-metrics" })
	testtools.WaitFor(t, waitLimit, "/readyz 200", func() bool { c, _ := get(t, base+"/readyz"); return c == 200 })
	if c, body := get(t, base+"/custom-metrics"); c != 200 || !strings.Contains(body, "ipamwatch_build_info{") {
		t.Errorf("/custom-metrics = %d, lacks ipamwatch_build_info", c)
	}
	if c, _ := get(t, base+"/metrics"); c != 404 {
		t.Errorf("/metrics = %d after moving the telemetry path, want 404", c)
	}
	if c, body := get(t, base+"/"); c != 200 || !strings.Contains(body, `href="/custom-metrics"`) || !strings.Contains(body, `href="/diagnosis?format=text"`) {
		t.Errorf("landing page = %d:\n%s", c, body)
	}
	resp, err := http.Post(base+"/custom-metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
	_, body := get(t, base+"/diagnosis")
	var doc struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.SchemaVersion != 1 {
		t.Errorf("/diagnosis schema_version = %d (%v)", doc.SchemaVersion, err)
	}
	if _, err := agent.New(agent.Config{Kubernetes: "off", TelemetryPath: "metrics"}); err == nil {
		t.Error("a telemetry path without a leading slash was accepted")
	}
}
