package forecast_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/forecast/trace"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestTracesAlert runs the generated traces through promtool with the shipped rules: no forecast
// alert, not even pending, on flat churn, recycled nodes and the demo's large shape; firing an
// hour before the subnet runs out on linear growth. (The rules' exact numbers and labels are
// alerts/tests/forecast.yaml's.)
func TestTracesAlert(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("generates 20-hour traces")
	}
	promtool := testtools.Lookup(t, "promtool")
	rules, err := alerts.RulesFile(alerts.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range trace.Standard() {
		if spec.Shape == trace.Bursty {
			continue // measured, not asserted: see docs/forecast.md
		}
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			tr, err := trace.Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			var in bytes.Buffer
			if err := tr.WritePromtoolSeries(&in, "      "); err != nil {
				t.Fatal(err)
			}
			name := alerts.AlertExhaustionForecast
			var check string
			if spec.Shape == trace.Linear {
				if tr.Exhausted == 0 {
					t.Fatalf("the %s trace never ran out", spec.Name)
				}
				at := promDuration((tr.Exhausted - time.Hour).Truncate(time.Minute))
				check = fmt.Sprintf(`
      - expr: count by (alertname, subnet_id) (ALERTS{alertname=%q,alertstate="firing"})
        eval_time: %s
        exp_samples:
          - labels: '{alertname=%q,subnet_id=%q}'
            value: 1`, name, at, name, spec.SubnetID)
			} else {
				if tr.Exhausted != 0 {
					t.Fatalf("the flat %s trace ran out after %s", spec.Name, tr.Exhausted)
				}
				end := promDuration(spec.Duration.Truncate(time.Minute))
				check = fmt.Sprintf(`
      - expr: max_over_time(ALERTS{alertname=%q}[%s])
        eval_time: %s
        exp_samples: []`, name, end, end)
			}
			dir := t.TempDir()
			test := "rule_files: [rules.yml]\nevaluation_interval: 1m\ngroup_eval_order: [ipamwatch.rules, ipamwatch.subnet.alerts]\ntests:\n" +
				"  - interval: 1m\n    input_series:\n" + in.String() + "    promql_expr_test:" + check + "\n"
			for file, body := range map[string][]byte{"rules.yml": rules, "test.yml": []byte(test)} {
				if err := os.WriteFile(filepath.Join(dir, file), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if os.Getenv("FC_DUMP") != "" {
				_ = os.WriteFile("/tmp/fc/"+spec.Name+".yml", []byte(test), 0o644)
				_ = os.WriteFile("/tmp/fc/rules.yml", rules, 0o644)
			}
			cmd := exec.Command(promtool, "test", "rules", "test.yml")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("promtool test rules: %v\n%s", err, out)
			}
		})
	}
}

func promDuration(d time.Duration) string { return fmt.Sprintf("%dm", int(d.Minutes())) }
