package forecast_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/forecast/trace"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// promtoolTest writes the default rules and a test file and runs `promtool test rules`.
func promtoolTest(t *testing.T, tests string) {
	t.Helper()
	promtool := testtools.Lookup(t, "promtool")
	dir := t.TempDir()
	rules, err := forecast.RulesFile(forecast.DefaultRuleParams(), "ipamwatch.forecast")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "rules.yml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "test.yml")
	body := "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n" + tests
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "test.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlertAnnotations: a subnet losing 2 addresses a minute, 119 left at 300m, one node more
// than two hours ago, 102 idle addresses in a /22. Every number of the description is known.
func TestAlertAnnotations(t *testing.T) {
	t.Parallel()
	promtoolTest(t, `
- interval: 1m
  input_series:
  - series: 'ipamwatch_subnet_free_addresses{availability_zone="us-west-2a",subnet_id="subnet-a"}'
    values: '719-2x400'
  - series: 'ipamwatch_subnet_used_addresses{availability_zone="us-west-2a",holder="cluster_node",subnet_id="subnet-a"}'
    values: '300+2x400'
  - series: 'ipamwatch_subnet_node_held_addresses{node="node-a",subnet_id="subnet-a"}'
    values: '150+1x400'
  - series: 'ipamwatch_subnet_node_held_addresses{node="node-b",subnet_id="subnet-a"}'
    values: '_x240 150+1x160'
  - series: 'ipamwatch_subnet_cidr_addresses{node="node-a",subnet_id="subnet-a"}'
    values: '1024x400'
  - series: 'ipamwatch_eni_ip_addresses{eni="eni-1",node="node-a",state="free",subnet_id="subnet-a"}'
    values: '102x400'
  - series: 'ipamwatch_eni_ip_addresses{eni="eni-1",node="node-a",state="assigned",subnet_id="subnet-a"}'
    values: '40x400'
  alert_rule_test:
  - eval_time: 110m
    alertname: IpamwatchSubnetExhaustionForecast
    exp_alerts: []
  - eval_time: 300m
    alertname: IpamwatchSubnetExhaustionForecast
    exp_alerts:
    - exp_labels:
        severity: warning
        subnet_id: subnet-a
        basis: exact
      exp_annotations:
        summary: A subnet runs out of addresses within 4 hours at the current rate.
        description: 'Subnet subnet-a has 119 free addresses (basis exact) and uses 120 more per hour (slope over 2h): it runs out in 59m 30s. Nodes holding addresses there: 2 now, +1 more than 2h ago. Idle warm-pool addresses are 9.961% of the subnet.'
  promql_expr_test:
  - expr: subnet_id:ipamwatch_subnet_free_addresses:best
    eval_time: 300m
    exp_samples:
    - labels: 'subnet_id:ipamwatch_subnet_free_addresses:best{basis="exact",subnet_id="subnet-a"}'
      value: 119
  - expr: subnet_id:ipamwatch_subnet_free_addresses:node_local
    eval_time: 300m
    exp_samples:
    - labels: 'subnet_id:ipamwatch_subnet_free_addresses:node_local{subnet_id="subnet-a"}'
      value: 359
`)
}

// TestAlertNodeLocalBasis: without the subnets deployment the free count and the rate come
// from what the nodes hold; the basis label says so. 1000 addresses, one node growing by 3 a
// minute from 100: at 200m it holds 700, 295 are free, 180 an hour.
func TestAlertNodeLocalBasis(t *testing.T) {
	t.Parallel()
	promtoolTest(t, `
- interval: 1m
  input_series:
  - series: 'ipamwatch_subnet_node_held_addresses{node="node-a",subnet_id="subnet-b"}'
    values: '100+3x300'
  - series: 'ipamwatch_subnet_cidr_addresses{node="node-a",subnet_id="subnet-b"}'
    values: '1000x300'
  alert_rule_test:
  - eval_time: 200m
    alertname: IpamwatchSubnetExhaustionForecast
    exp_alerts:
    - exp_labels:
        severity: warning
        subnet_id: subnet-b
        basis: node_local
      exp_annotations:
        summary: A subnet runs out of addresses within 4 hours at the current rate.
        description: 'Subnet subnet-b has 295 free addresses (basis node_local) and uses 180 more per hour (slope over 2h): it runs out in 1h 38m 20s. Nodes holding addresses there: 1 now, +0 more than 2h ago. Idle warm-pool addresses are unknown of the subnet.'
`)
}

// TestTracesAlert runs the generated traces through promtool: no alert, not even pending, on
// flat churn, recycled nodes and the demo's large shape; firing an hour before the subnet
// runs out on linear growth.
func TestTracesAlert(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("generates 20-hour traces")
	}
	testtools.Lookup(t, "promtool")
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
			if err := tr.WritePromtoolSeries(&in, "  "); err != nil {
				t.Fatal(err)
			}
			var check string
			switch spec.Shape {
			case trace.Linear:
				if tr.Exhausted == 0 {
					t.Fatalf("the %s trace never ran out", spec.Name)
				}
				at := (tr.Exhausted - time.Hour).Truncate(time.Minute)
				check = fmt.Sprintf(`
  - expr: ALERTS{alertname=%q,alertstate="firing"}
    eval_time: %s
    exp_samples:
    - labels: 'ALERTS{alertname=%q,alertstate="firing",basis="exact",severity="warning",subnet_id=%q}'
      value: 1`, forecast.AlertExhaustion, promDuration(at), forecast.AlertExhaustion, spec.SubnetID)
			default:
				if tr.Exhausted != 0 {
					t.Fatalf("the flat %s trace ran out after %s", spec.Name, tr.Exhausted)
				}
				end := spec.Duration.Truncate(time.Minute)
				check = fmt.Sprintf(`
  - expr: max_over_time(ALERTS{alertname=%q}[%s])
    eval_time: %s
    exp_samples: []`, forecast.AlertExhaustion, promDuration(end), promDuration(end))
			}
			promtoolTest(t, "- interval: 1m\n  input_series:\n"+in.String()+"  promql_expr_test:"+check+"\n")
		})
	}
}

func promDuration(d time.Duration) string { return fmt.Sprintf("%dm", int(d.Minutes())) }
