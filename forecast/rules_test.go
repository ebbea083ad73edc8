package forecast_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestRulesParse: promtool accepts the rules under every shape of parameters, and the
// selector and aggregation labels reach every selector and aggregation.
func TestRulesParse(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	multi := forecast.DefaultRuleParams()
	multi.Selector, multi.By = `cluster="prod"`, []string{"cluster"}
	short := forecast.DefaultRuleParams()
	short.Window, short.LongWindow, short.RunsOutWithin, short.ConfirmWithin, short.For = 30*time.Minute, 90*time.Minute, 90*time.Minute, 90*time.Minute, 0
	for name, p := range map[string]forecast.RuleParams{"default": forecast.DefaultRuleParams(), "multi-cluster": multi, "short": short} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := forecast.RulesFile(p, "ipamwatch.forecast")
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "rules.yml")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
				t.Fatalf("promtool check rules: %v\n%s", err, out)
			}
			rules, err := forecast.Rules(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rules {
				for _, metric := range []string{"ipamwatch_subnet_node_held_addresses", "ipamwatch_subnet_free_addresses", "ipamwatch_eni_ip_addresses"} {
					if p.Selector != "" && strings.Contains(r.Expr, "("+metric) && !strings.Contains(r.Expr, p.Selector) {
						t.Errorf("%s%s reads %s without the selector: %s", r.Record, r.Alert, metric, r.Expr)
					}
				}
				for _, l := range p.By {
					if strings.Contains(r.Expr, "by (") && !strings.Contains(r.Expr, ", "+l+")") {
						t.Errorf("%s aggregates without %s: %s", r.Record, l, r.Expr)
					}
				}
			}
		})
	}
}

func TestRuleParamsValidate(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*forecast.RuleParams){
		"tiny window":        func(p *forecast.RuleParams) { p.Window = time.Minute },
		"long under short":   func(p *forecast.RuleParams) { p.LongWindow = time.Hour },
		"no horizon":         func(p *forecast.RuleParams) { p.RunsOutWithin = 0 },
		"confirm too short":  func(p *forecast.RuleParams) { p.ConfirmWithin = time.Hour },
		"negative for":       func(p *forecast.RuleParams) { p.For = -time.Minute },
		"bad label":          func(p *forecast.RuleParams) { p.By = []string{"cluster-name"} },
		"subnet_id repeated": func(p *forecast.RuleParams) { p.By = []string{"subnet_id"} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := forecast.DefaultRuleParams()
			mod(&p)
			if _, err := forecast.Rules(p); !errors.Is(err, forecast.ErrInvalidInput) {
				t.Errorf("got %v, want ErrInvalidInput", err)
			}
		})
	}
}
