package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// promtool checks the rules as generated now (not only the committed copy) and runs the unit
// tests in alerts/tests against the committed rules file.
func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	dir := t.TempDir()
	p := DefaultParams()
	rules, err := RulesFile(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ipamwatch.rules.yaml")
	if err := os.WriteFile(path, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules did not report success:\n%s", out)
	}
	// A custom selector and job still make valid rules.
	p.Selector = `cluster="prod"`
	p.Job = "ipamwatch|ipamwatch-agent"
	custom, err := RulesFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, custom, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules (custom params): %v\n%s", err, out)
	}
}

func TestPromtoolUnitTests(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	for _, f := range promtoolTestFiles(t) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(promtool, "test", "rules", filepath.Base(f))
			cmd.Dir = filepath.Dir(f)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
			if !strings.Contains(string(out), "SUCCESS") {
				t.Fatalf("promtool test rules %s did not report success:\n%s", f, out)
			}
		})
	}
}

// The unit tests must be able to fail: a rules file whose alert never fires makes promtool
// report the missing alert.
func TestPromtoolUnitTestsCanFail(t *testing.T) {
	t.Parallel()
	promtool := testtools.Lookup(t, "promtool")
	dir := t.TempDir()
	rules, err := RulesFile(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(rules), `ipamwatch_finding{cause="subnet_exhausted"}) == 1`, `ipamwatch_finding{cause="subnet_exhausted"}) == 2`, 1)
	if broken == string(rules) {
		t.Fatal("the subnet_exhausted expression changed; update this test")
	}
	if err := os.WriteFile(filepath.Join(dir, "ipamwatch.rules.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	test, err := os.ReadFile(filepath.Join("tests", "aggregated.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "tests")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "aggregated.yaml"), test, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "aggregated.yaml")
	cmd.Dir = sub
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("promtool accepted a rule that never fires:\n%s", out)
	}
	if !strings.Contains(string(out), "IpamwatchSubnetExhausted") {
		t.Fatalf("promtool failed for another reason:\n%s", out)
	}
}

// The Alertmanager example of docs/alerts.md is a valid configuration, and its inhibit rules
// name alerts that exist.
func TestAlertmanagerExample(t *testing.T) {
	t.Parallel()
	amtool := testtools.Lookup(t, "amtool")
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(path, []byte(AlertmanagerExample()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(amtool, "check-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, a := range Build(DefaultParams()).Alerts {
		names[a.Name] = true
	}
	matched := 0
	for _, m := range regexp.MustCompile(`alertname=~?"([\w|]+)"`).FindAllStringSubmatch(AlertmanagerExample(), -1) {
		for _, n := range strings.Split(m[1], "|") {
			matched++
			if !names[n] {
				t.Errorf("the Alertmanager example names %s, which is not an alert", n)
			}
		}
	}
	if matched < 10 {
		t.Errorf("only %d alert names found in the Alertmanager example", matched)
	}
}

// promtoolTestFiles are the promtool unit test files: tests/*.yaml against the shipped rules and
// tests/multicluster/*.yaml against the rules with a cluster label.
func promtoolTestFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{filepath.Join("tests", "*.yaml"), filepath.Join("tests", "multicluster", "*.yaml")} {
		files, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if filepath.Base(f) != "ipamwatch.rules.yaml" {
				out = append(out, f)
			}
		}
	}
	if len(out) < 8 {
		t.Fatalf("only %d promtool test files", len(out))
	}
	return out
}
