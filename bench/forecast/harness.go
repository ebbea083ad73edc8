package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/forecast/trace"
)

// prom runs the real Prometheus server over a TSDB directory, without scraping anything.
type prom struct {
	bin, data, addr, logPath string
	cmd                      *exec.Cmd
}

func (p *prom) start(ctx context.Context) error {
	cfg := filepath.Join(filepath.Dir(p.data), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 1m\n"), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, "--config.file="+cfg, "--storage.tsdb.path="+p.data,
		"--storage.tsdb.retention.time=30d", "--web.listen-address="+p.addr, "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting prometheus: %w", err)
	}
	go func() { _ = p.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after a minute (log: %s)", p.logPath)
}

func (p *prom) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	for range 100 {
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
	}
	p.cmd = nil
}

// queryRange runs a range query and returns the one series' samples (nil if none).
func (p *prom) queryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]trace.Sample, error) {
	v := url.Values{
		"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %s: decoding: %w", q, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	if len(r.Data.Result) > 1 {
		return nil, fmt.Errorf("query %s: %d series, want one", q, len(r.Data.Result))
	}
	var out []trace.Sample
	for _, res := range r.Data.Result {
		for _, pair := range res.Values {
			ts, _ := pair[0].(float64)
			s, _ := pair[1].(string)
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("query %s: value %q: %w", q, s, err)
			}
			at := time.Unix(int64(ts), 0).Sub(start)
			out = append(out, trace.Sample{At: at, Value: f})
		}
	}
	return out, nil
}

func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

// layers orders the recording rules for `promtool tsdb create-blocks-from rules`, which
// evaluates each rule against the server: a rule over recorded series needs those loaded
// first. Layer 0 reads only scraped series, layer k the recordings of layers below k.
func layers(rules []alerts.Recording) ([][]alerts.Recording, error) {
	level := map[string]int{}
	var out [][]alerts.Recording
	for pending := rules; len(pending) > 0; {
		var next []alerts.Recording
		var layer []alerts.Recording
		for _, r := range pending {
			ready := true
			for _, o := range rules {
				if o.Record != r.Record && strings.Contains(r.Expr, o.Record) {
					if _, done := level[o.Record]; !done {
						ready = false
					}
				}
			}
			if ready {
				layer = append(layer, r)
			} else {
				next = append(next, r)
			}
		}
		if len(layer) == 0 {
			if len(next) == 0 {
				break
			}
			return nil, fmt.Errorf("recording rules depend on each other in a cycle: %v", next)
		}
		for _, r := range layer {
			level[r.Record] = len(out)
		}
		out = append(out, layer)
		pending = next
	}
	return out, nil
}

// setup generates the traces, loads them into a TSDB with promtool, backfills the first
// layer of recording rules and leaves Prometheus running over the result.
func setup(ctx context.Context, cfg config, dir string, traces []*trace.Trace, start time.Time, p *prom) error {
	om := filepath.Join(dir, "traces.om")
	f, err := os.Create(om)
	if err != nil {
		return err
	}
	if err := trace.WriteOpenMetrics(f, start, traces...); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := run(ctx, cfg.promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", om, p.data); err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	ls, err := layers(forecastRecordings(alerts.Build(cfg.params)))
	if err != nil {
		return err
	}
	end := start
	for _, t := range traces {
		if e := start.Add(t.Spec.Duration); e.After(end) {
			end = e
		}
	}
	for i, layer := range ls {
		file := filepath.Join(dir, fmt.Sprintf("layer%d.yml", i))
		if err := writeRules(file, layer); err != nil {
			return err
		}
		out := filepath.Join(dir, fmt.Sprintf("backfill%d", i))
		if err := run(ctx, cfg.promtool, "tsdb", "create-blocks-from", "rules", "--quiet",
			"--url=http://"+p.addr, "--start="+strconv.FormatInt(start.Unix(), 10), "--end="+strconv.FormatInt(end.Unix(), 10),
			"--eval-interval=1m", "--output-dir="+out, file); err != nil {
			return err
		}
		p.stop()
		blocks, err := os.ReadDir(out)
		if err != nil {
			return err
		}
		for _, b := range blocks {
			if err := os.Rename(filepath.Join(out, b.Name()), filepath.Join(p.data, b.Name())); err != nil {
				return err
			}
		}
		if err := p.start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// forecastRecordings are the recording rules the forecast alert and its what-if read, and
// those they read in turn (the catalog's others need series the traces do not have).
func forecastRecordings(c alerts.Catalog) []alerts.Recording {
	seeds := []string{forecastAlert(c).Expr, alerts.RecordHeadroomPods, alerts.RecordFix, alerts.RecordIdleShare, alerts.RecordNodesDelta}
	need := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, r := range c.Recordings {
			if need[r.Record] {
				continue
			}
			for _, e := range seeds {
				if strings.Contains(e, r.Record) {
					need[r.Record], changed = true, true
					seeds = append(seeds, r.Expr)
					break
				}
			}
		}
	}
	var out []alerts.Recording
	for _, r := range c.Recordings {
		if need[r.Record] {
			out = append(out, r)
		}
	}
	return out
}

func forecastAlert(c alerts.Catalog) alerts.Alert {
	for _, a := range c.Alerts {
		if a.Name == alerts.AlertExhaustionForecast {
			return a
		}
	}
	panic("the catalog has no " + alerts.AlertExhaustionForecast)
}

// dur reads a threshold of the catalog (validated Prometheus durations).
func dur(s string) time.Duration {
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("threshold %q: %v", s, err))
	}
	return time.Duration(d)
}

func writeRules(path string, rules []alerts.Recording) error {
	var b strings.Builder
	b.WriteString("groups:\n- name: backfill\n  rules:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "  - record: %s\n    expr: %s\n", r.Record, strconv.Quote(r.Expr))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// method is one way of estimating the consumption rate, as a PromQL expression of the subnet
// selector and the window; the increase over the horizon is rate x horizon.
type method struct {
	name, expr string
}

// ruleResult is what the shipped rules did on one trace.
type ruleResult struct {
	Trace string
	// MinTTE is the shortest time to exhaustion the recorded series showed (before the subnet
	// ran out), MaxPerHour the largest consumption rate per hour.
	MinTTE     time.Duration
	MaxPerHour float64
	// Episodes counts the alert's firings; Lead is how long before the subnet ran out the
	// first one came (0: none before).
	Episodes  int
	Lead      time.Duration
	Exhausted time.Duration
}

// evaluateRules reads the backfilled recordings and the alert's expression for one trace and
// applies the alert's `for` minute by minute, as the rule manager does.
func evaluateRules(ctx context.Context, cfg config, p *prom, tr *trace.Trace, start time.Time) (ruleResult, error) {
	r := ruleResult{Trace: tr.Spec.Name, MinTTE: time.Duration(math.MaxInt64), Exhausted: tr.Exhausted}
	sel := fmt.Sprintf(`{subnet_id=%q}`, tr.Spec.SubnetID)
	end := start.Add(tr.Spec.Duration)
	// The alert looks only at subnets observed for the whole window, and the numbers after the
	// subnet ran out say nothing about the forecast.
	before := func(at time.Duration) bool {
		return at >= dur(cfg.params.ForecastWindow) && (tr.Exhausted == 0 || at < tr.Exhausted)
	}
	tte, err := p.queryRange(ctx, alerts.RecordExhaustion+sel, start, end, time.Minute)
	if err != nil {
		return r, err
	}
	for _, s := range tte {
		if before(s.At) {
			r.MinTTE = min(r.MinTTE, time.Duration(s.Value*float64(time.Second)))
		}
	}
	rate, err := p.queryRange(ctx, alerts.RecordConsumption+sel, start, end, time.Minute)
	if err != nil {
		return r, err
	}
	for _, s := range rate {
		if before(s.At) {
			r.MaxPerHour = max(r.MaxPerHour, s.Value*3600)
		}
	}
	alert := forecastAlert(alerts.Build(cfg.params))
	forDur := dur(alert.For)
	cond, err := p.queryRange(ctx, fmt.Sprintf("(%s) and on (subnet_id) %s%s", alert.Expr, alerts.RecordHeld, sel), start, end, time.Minute)
	if err != nil {
		return r, err
	}
	var since, prev time.Duration = -1, -1
	firing := false
	for _, s := range cond {
		if prev < 0 || s.At-prev > time.Minute {
			since, firing = s.At, false // a gap: the alert resolved
		}
		prev = s.At
		if !firing && s.At-since >= forDur {
			firing = true
			r.Episodes++
			if tr.Exhausted > 0 && s.At < tr.Exhausted && r.Lead == 0 {
				r.Lead = tr.Exhausted - s.At
			}
		}
	}
	return r, nil
}

var methods = []method{
	{"deriv(node-local held)", `deriv(` + alerts.RecordHeld + `%s[%s])`},
	{"-deriv(exact free)", `-deriv(` + alerts.RecordFreeExact + `%s[%s])`},
	{"deriv(15m average)", `deriv(avg_over_time(` + alerts.RecordHeld + `%s[15m])[%s:1m])`},
	{"deriv(10m max)", `deriv(max_over_time(` + alerts.RecordHeld + `%s[10m])[%s:1m])`},
}

// result is one trace x method x window.
type result struct {
	Trace, Method string
	Window        time.Duration
	Points        int
	// Growth traces: mean and 90th percentile of |predicted - actual| / actual over the
	// horizon's increase, and the bias |sum predicted - sum actual| / sum actual.
	MAPE, P90, Bias float64
	// Every trace: the largest predicted increase over the horizon, and the shortest time
	// to exhaustion it implies.
	MaxInc        float64
	MinTTE        time.Duration
	AlertEpisodes int
	// Growth traces that run out: the alert's first firing before exhaustion (0 = never).
	Lead time.Duration
}

func evaluate(ctx context.Context, cfg config, p *prom, tr *trace.Trace, start time.Time, m method, w time.Duration) (result, error) {
	r := result{Trace: tr.Spec.Name, Method: m.name, Window: w}
	sel := fmt.Sprintf(`{subnet_id=%q}`, tr.Spec.SubnetID)
	wd := model.Duration(w).String()
	rateQ := fmt.Sprintf(m.expr, sel, wd)
	end := start.Add(tr.Spec.Duration)
	rate, err := p.queryRange(ctx, rateQ, start.Add(w), end, time.Minute)
	if err != nil {
		return r, err
	}
	if len(rate) == 0 {
		return r, fmt.Errorf("%s: no samples for %s", tr.Spec.Name, rateQ)
	}
	h := cfg.horizon
	growth := tr.Spec.Shape == trace.Linear || tr.Spec.Shape == trace.Bursty
	var errs []float64
	var sumPred, sumAct float64
	r.MinTTE = time.Duration(math.MaxInt64)
	firing, since := false, time.Duration(-1)
	for _, s := range rate {
		t := s.At + w
		pred := s.Value * h.Seconds()
		r.MaxInc = max(r.MaxInc, pred)
		free, ok := trace.At(tr.Free, t)
		if ok && s.Value > 0 && (tr.Exhausted == 0 || t < tr.Exhausted) {
			tte := time.Duration(free / s.Value * float64(time.Second))
			r.MinTTE = min(r.MinTTE, tte)
			// The alert: below RunsOutWithin for For (evaluated each minute).
			if tte < dur(cfg.params.RunsOutWithin) {
				if since < 0 {
					since = t
				}
				if !firing && t-since >= dur(forecastAlert(alerts.Build(cfg.params)).For) {
					firing = true
					r.AlertEpisodes++
					if tr.Exhausted > 0 && t < tr.Exhausted && r.Lead == 0 {
						r.Lead = tr.Exhausted - t
					}
				}
			} else {
				firing, since = false, -1
			}
		} else {
			firing, since = false, -1
		}
		if !growth || t%(5*time.Minute) != 0 {
			continue
		}
		if tr.Exhausted > 0 && t+h >= tr.Exhausted {
			continue
		}
		now, ok1 := trace.At(tr.Used, t)
		later, ok2 := trace.At(tr.Used, t+h)
		if !ok1 || !ok2 || t+h > tr.Spec.Duration {
			continue
		}
		act := later - now
		sumPred += pred
		sumAct += act
		if act > 0 {
			errs = append(errs, math.Abs(pred-act)/act)
		}
	}
	r.Points = len(errs)
	if len(errs) > 0 {
		var sum float64
		for _, e := range errs {
			sum += e
		}
		r.MAPE = sum / float64(len(errs))
		slices.Sort(errs)
		r.P90 = errs[int(math.Ceil(0.9*float64(len(errs))))-1]
		r.Bias = math.Abs(sumPred-sumAct) / sumAct
	}
	return r, nil
}
