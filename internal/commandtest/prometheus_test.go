package commandtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// The runbooks find the node (or subnet) of a firing alert through Prometheus' HTTP API. For
// each runbook the test runs Debian's Prometheus with the shipped rules (alerts/
// ipamwatch.rules.yaml, every `for:` cut to a few seconds), scraping the real agent of the
// runbook's demo scenario as job "ipamwatch" with the world's node as its node label (what the
// chart's monitors attach), and waits for the runbook's alert to fire.

var forRe = regexp.MustCompile(`(?m)^(\s+)for: \S+\s*$`)

type prometheus struct {
	url   string
	fired bool
}

// startPrometheus starts Prometheus for one runbook: it scrapes agent and evaluates the rules,
// stopped by PID when t ends. With wait, fired says whether alert reached firing within 45 s.
func (r *scriptRig) startPrometheus(t *testing.T, agent, alert string, wait bool) prometheus {
	t.Helper()
	bin := testtools.Lookup(t, "prometheus")
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(repoRoot(t), "alerts", "ipamwatch.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), forRe.ReplaceAll(rules, []byte("${1}for: 3s")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
- job_name: ipamwatch
  static_configs:
  - targets: [%q]
    labels: {node: %q}
`, agent, r.w.Node)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Ends with the test binary even if it dies before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	p := prometheus{url: "http://" + addr}
	// At least one scrape of the agent and one rule evaluation before any block asks.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if n, err := p.count(t.Context(), `ipamwatch_node_info`); err == nil && n > 0 {
			break
		}
	}
	time.Sleep(2 * time.Second)
	if !wait {
		return p
	}
	deadline := time.Now().Add(45 * time.Second)
	query := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, alert)
	for time.Now().Before(deadline) {
		if n, err := p.count(t.Context(), query); err == nil && n > 0 {
			p.fired = true
			return p
		}
		time.Sleep(time.Second)
	}
	return p
}

// count returns how many series query returns.
func (p prometheus) count(ctx context.Context, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return 0, fmt.Errorf("%w: %.200s", err, b)
	}
	return len(body.Data.Result), nil
}

// alertOf is the alert a runbook file is about (docs/runbooks/<Alert>.md).
func alertOf(s script) string {
	name := strings.Fields(s.Name)[0]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		name = name[:i]
	}
	return strings.TrimSuffix(filepath.Base(name), ".md")
}
