// Command forecast measures the subnet forecast on generated traces with the real promtool
// and Prometheus: it generates the traces of package forecast/trace (linear growth with
// secondary IPs and with prefixes, bursty scale-ups, flat churn, nodes recycled, the demo's
// `large` shape), imports them with `promtool tsdb create-blocks-from openmetrics`,
// backfills the forecast's first recording rules with `promtool tsdb create-blocks-from
// rules`, starts Prometheus over the result and queries the rate estimators for several
// windows. It prints, per trace, method and window, the error of the predicted increase at the
// horizon against what the trace really did, the shortest time to exhaustion it implied, how
// often the alert would have fired and, where the subnet ran out, how long before.
//
//	go run ./bench/forecast                     # every trace, windows 30m,1h,2h,3h,6h
//	go run ./bench/forecast -methods 0 -windows 2h
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/forecast/trace"
)

type config struct {
	promtool, prometheus string
	addr                 string
	keep                 string
	windows              []time.Duration
	methods              []int
	traces               []string
	horizon              time.Duration
	params               alerts.Params
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := cli(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "forecast: %v\n", err)
		os.Exit(1)
	}
}

func cli(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("forecast", flag.ContinueOnError)
	cfg := config{params: alerts.DefaultParams()}
	windows := fs.String("windows", "30m,1h,2h,3h,6h", "rate windows to compare")
	methodList := fs.String("methods", "", "indexes of the rate methods to compare (default all)")
	traceList := fs.String("traces", "", "trace names (default all)")
	fs.StringVar(&cfg.addr, "listen", "127.0.0.1:0", "address for Prometheus (port 0: a free one)")
	fs.StringVar(&cfg.keep, "keep", "", "keep the TSDB, rules and logs in this directory")
	fs.DurationVar(&cfg.horizon, "horizon", time.Hour, "forecast horizon")
	fs.StringVar(&cfg.params.ConfirmWithin, "confirm-within", cfg.params.ConfirmWithin, "the alert's horizon at the long window's rate (threshold confirmWithin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.params.Validate(); err != nil {
		return err
	}
	for _, w := range strings.Split(*windows, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(w))
		if err != nil {
			return fmt.Errorf("-windows: %w", err)
		}
		cfg.windows = append(cfg.windows, d)
	}
	if *methodList != "" {
		for _, m := range strings.Split(*methodList, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(m))
			if err != nil || i < 0 || i >= len(methods) {
				return fmt.Errorf("-methods: %q is not an index below %d", m, len(methods))
			}
			cfg.methods = append(cfg.methods, i)
		}
	}
	if *traceList != "" {
		cfg.traces = strings.Split(*traceList, ",")
	}
	var err error
	if cfg.promtool, err = exec.LookPath("promtool"); err != nil {
		return fmt.Errorf("promtool: %w (scripts/install-tools.sh installs it)", err)
	}
	if cfg.prometheus, err = exec.LookPath("prometheus"); err != nil {
		return fmt.Errorf("prometheus: %w (scripts/install-tools.sh installs it)", err)
	}
	rules, results, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	printRules(stdout, cfg, rules)
	printTable(stdout, cfg, results)
	return nil
}

// measure runs the whole measurement and returns, per trace, what the shipped rules did and
// one result per rate method and window.
func measure(ctx context.Context, cfg config) (rules []ruleResult, out []result, err error) {
	dir := cfg.keep
	if dir == "" {
		d, err := os.MkdirTemp("", "ipamwatch-forecast-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if cfg.addr == "" || strings.HasSuffix(cfg.addr, ":0") {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		cfg.addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	var traces []*trace.Trace
	for _, spec := range trace.Standard() {
		if len(cfg.traces) > 0 && !contains(cfg.traces, spec.Name) {
			continue
		}
		tr, err := trace.Generate(spec)
		if err != nil {
			return nil, nil, err
		}
		traces = append(traces, tr)
	}
	if len(traces) == 0 {
		return nil, nil, fmt.Errorf("no trace selected")
	}
	// Recent enough for the default retention, whole hours for readable times.
	start := time.Now().Add(-30 * time.Hour).Truncate(time.Hour)
	p := &prom{bin: cfg.prometheus, data: filepath.Join(dir, "data"), addr: cfg.addr, logPath: filepath.Join(dir, "prometheus.log")}
	defer p.stop()
	if err := setup(ctx, cfg, dir, traces, start, p); err != nil {
		return nil, nil, err
	}
	ms := cfg.methods
	if len(ms) == 0 {
		for i := range methods {
			ms = append(ms, i)
		}
	}
	for _, tr := range traces {
		rr, err := evaluateRules(ctx, cfg, p, tr, start)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, rr)
		for _, mi := range ms {
			for _, w := range cfg.windows {
				r, err := evaluate(ctx, cfg, p, tr, start, methods[mi], w)
				if err != nil {
					return nil, nil, err
				}
				out = append(out, r)
			}
		}
	}
	return rules, out, nil
}

func printRules(w io.Writer, cfg config, rs []ruleResult) {
	t := cfg.params.Thresholds
	fmt.Fprintf(w, "The forecast rules (rate window %s, long window %s, alert: runs out within %s, and within %s at the long window's rate, for %s):\n\n",
		t.ForecastWindow, t.ForecastLongWindow, t.RunsOutWithin, t.ConfirmWithin, forecastAlert(alerts.Build(cfg.params)).For)
	fmt.Fprintln(w, "| trace | ran out after | highest rate (addresses/h) | shortest time to exhaustion | alert firings | first firing before running out |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rs {
		out, tte, lead := "never", "never", "-"
		if r.Exhausted > 0 {
			out = r.Exhausted.Round(time.Minute).String()
		}
		if r.MinTTE < time.Duration(1<<62) {
			tte = r.MinTTE.Round(time.Minute).String()
		}
		if r.Lead > 0 {
			lead = r.Lead.Round(time.Minute).String()
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %d | %s |\n", r.Trace, out, r.MaxPerHour, tte, r.Episodes, lead)
	}
	fmt.Fprintln(w)
}

func printTable(w io.Writer, cfg config, rs []result) {
	fmt.Fprintf(w, "horizon %s; one window alone: runs out within %s for %s\n\n", cfg.horizon, cfg.params.RunsOutWithin, forecastAlert(alerts.Build(cfg.params)).For)
	fmt.Fprintln(w, "| trace | method | window | points | 1h increase MAPE | p90 | bias | max predicted 1h increase | shortest time to exhaustion | alert episodes | alert lead |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		pct := func(f float64) string {
			if r.Points == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f%%", 100*f)
		}
		tte := "never"
		if r.MinTTE < time.Duration(1<<62) {
			tte = r.MinTTE.Round(time.Minute).String()
		}
		lead := "-"
		if r.Lead > 0 {
			lead = r.Lead.Round(time.Minute).String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s | %.0f | %s | %d | %s |\n",
			r.Trace, r.Method, r.Window, r.Points, pct(r.MAPE), pct(r.P90), pct(r.Bias), r.MaxInc, tte, r.AlertEpisodes, lead)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func containsRecord(expr, record string) bool { return strings.Contains(expr, record) }
