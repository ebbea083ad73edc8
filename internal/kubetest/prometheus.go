package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"sigs.k8s.io/yaml"
)

const prometheusReadyTimeout = time.Minute

// Prometheus is Debian's Prometheus (2.42) running a configuration prometheus-operator
// generated, with its Kubernetes service discovery pointed at the test's API server.
type Prometheus struct {
	// URL is the web and API address, http://127.0.0.1:PORT.
	URL string
	// ConfigPath is the configuration it runs (the generated one, rewritten; see RunPrometheus).
	ConfigPath string
	// LogPath is its log.
	LogPath string
	proc    *process
	http    *http.Client
}

// RunPrometheus starts Debian's prometheus with config, a configuration from
// Operator.PrometheusConfig, and stops it (by PID) when the test ends. Inside a cluster
// Prometheus finds the API server through its pod's ServiceAccount; here every
// kubernetes_sd_config gets the server's address, CA and admin token instead. Nothing else of
// the configuration changes, so the targets, their labels and the relabelings are the
// operator's. Generate for Prometheus 2.42 (the Prometheus object's spec.version: v2.42.0):
// the operator leaves out what that version does not know.
func RunPrometheus(t testing.TB, srv *Server, config []byte) *Prometheus {
	t.Helper()
	bin := testtools.Lookup(t, "prometheus")
	dir := t.TempDir()
	rewritten, err := pointDiscoveryAt(config, srv)
	if err != nil {
		t.Fatalf("rewriting the generated configuration: %v\n%s", err, config)
	}
	p := &Prometheus{
		ConfigPath: filepath.Join(dir, "prometheus.yaml"),
		LogPath:    filepath.Join(dir, "prometheus.log"),
		http:       &http.Client{Timeout: 10 * time.Second},
	}
	if err := os.WriteFile(p.ConfigPath, rewritten, 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p.URL = "http://" + addr
	p.proc, err = startProcess("prometheus", p.LogPath, minimalEnv(), bin,
		"--config.file="+p.ConfigPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.proc.stop(stopGrace)
		if t.Failed() {
			t.Logf("prometheus log (last lines of %s):\n%s", p.LogPath, p.proc.logTail(40))
		}
	})
	if err := p.proc.waitReady(prometheusReadyTimeout, 100*time.Millisecond, func() error {
		return checkOK(p.http, p.URL+"/-/ready", "", "Ready")
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// pointDiscoveryAt adds srv's address and credentials to every kubernetes_sd_config of config.
func pointDiscoveryAt(config []byte, srv *Server) ([]byte, error) {
	var c map[string]any
	if err := yaml.Unmarshal(config, &c); err != nil {
		return nil, err
	}
	scrapes, _ := c["scrape_configs"].([]any)
	for _, sc := range scrapes {
		scm, ok := sc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("a scrape config is a %T", sc)
		}
		sds, _ := scm["kubernetes_sd_configs"].([]any)
		for _, sd := range sds {
			sdm, ok := sd.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("a kubernetes_sd_config is a %T", sd)
			}
			sdm["api_server"] = srv.URL
			sdm["tls_config"] = map[string]any{"ca_file": srv.CAFile}
			sdm["authorization"] = map[string]any{"credentials": srv.AdminToken}
		}
	}
	return yaml.Marshal(c)
}

// Target is one entry of Prometheus's /api/v1/targets.
type Target struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	Labels           map[string]string `json:"labels"`
	ScrapePool       string            `json:"scrapePool"`
	ScrapeURL        string            `json:"scrapeUrl"`
	Health           string            `json:"health"`
	LastError        string            `json:"lastError"`
}

// ActiveTargets returns the targets Prometheus discovered and kept after relabeling.
func (p *Prometheus) ActiveTargets(t testing.TB) []Target {
	t.Helper()
	var resp struct {
		Status string
		Data   struct {
			ActiveTargets []Target `json:"activeTargets"`
		}
	}
	p.getJSON(t, "/api/v1/targets?state=active", &resp)
	return resp.Data.ActiveTargets
}

// Query runs an instant PromQL query and returns the result's samples as label sets with
// their value.
func (p *Prometheus) Query(t testing.TB, query string) []Sample {
	t.Helper()
	var resp struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	p.getJSON(t, "/api/v1/query?query="+url.QueryEscape(query), &resp)
	if resp.Status != "success" {
		t.Fatalf("query %s: %s", query, resp.Error)
	}
	var out []Sample
	for _, r := range resp.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", query, r.Value[1], err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out
}

// Sample is one series of a query result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

func (p *Prometheus) getJSON(t testing.TB, path string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, 16<<20)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v\n%.500s", path, err, body)
	}
}
