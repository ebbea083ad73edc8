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
	"sync"
	"syscall"
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

// promRun is a Prometheus started for one runbook. Start-up and the wait for the alert take
// seconds of mostly idle time, so the test starts the next runbooks' ahead of time (bounded)
// and waits in the background; result blocks until the wait is over.
type promRun struct {
	alert string
	done  chan struct{} // closed when prom.fired is final
	prom  prometheus
	stop  func()
}

func (p *promRun) result() prometheus {
	<-p.done
	return p.prom
}

// launchPrometheus starts Prometheus for one runbook: it scrapes agent and evaluates the rules,
// stopped by PID by stop or, at the latest, when the rig's test ends. With wait, fired says
// whether alert reached firing within 45 s of the first rule evaluation.
func (r *scriptRig) launchPrometheus(agent, alert string, wait bool) *promRun {
	t := r.root
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
	ctx, cancel := context.WithCancel(context.Background())
	run := &promRun{alert: alert, done: make(chan struct{}), prom: prometheus{url: "http://" + addr}}
	var once sync.Once
	run.stop = func() {
		once.Do(func() {
			cancel()
			<-run.done
			_ = cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			logf.Close()
		})
	}
	t.Cleanup(run.stop)
	go func() {
		defer close(run.done)
		run.prom.fired = awaitPrometheus(ctx, run.prom, alert, wait)
	}()
	return run
}

// awaitPrometheus waits for one scrape of the agent and one rule evaluation, then, with wait,
// up to 45 s for alert to fire; it reports whether it did.
func awaitPrometheus(ctx context.Context, p prometheus, alert string, wait bool) bool {
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && sleep(500*time.Millisecond); {
		if n, err := p.count(ctx, `ipamwatch_node_info`); err == nil && n > 0 {
			break
		}
	}
	if !sleep(2*time.Second) || !wait {
		return false
	}
	query := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, alert)
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); {
		if n, err := p.count(ctx, query); err == nil && n > 0 {
			return true
		}
		if !sleep(time.Second) {
			return false
		}
	}
	return false
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
