package alerts

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Generated paths, relative to the repository root.
const (
	RulesPath          = "alerts/ipamwatch.rules.yaml"
	PrometheusRulePath = "manifests/components/prometheusrule/prometheusrule.yaml"
	AlertsDocPath      = "docs/alerts.md"
	RunbookDir         = "docs/runbooks"
	// MultiClusterRulesPath is the rules file with a cluster label, for the promtool tests
	// that mix two clusters' series (alerts/tests/multicluster).
	MultiClusterRulesPath = "alerts/tests/multicluster/ipamwatch.rules.yaml"
)

// MultiClusterParams are the parameters of MultiClusterRulesPath: the defaults with the
// cluster label "cluster".
func MultiClusterParams() Params {
	p := DefaultParams()
	p.ClusterLabel = "cluster"
	return p
}

// Files returns every file the generator owns, keyed by path relative to the repository root.
func Files(p Params) (map[string][]byte, error) {
	rules, err := RulesFile(p)
	if err != nil {
		return nil, err
	}
	pr, err := PrometheusRule(p)
	if err != nil {
		return nil, err
	}
	multi, err := RulesFile(MultiClusterParams())
	if err != nil {
		return nil, err
	}
	chart, err := ChartRules()
	if err != nil {
		return nil, err
	}
	c := Build(p)
	out := map[string][]byte{
		RulesPath:             rules,
		PrometheusRulePath:    pr,
		ChartRulesPath:        chart,
		MultiClusterRulesPath: multi,
		AlertsDocPath:         AlertsMarkdown(c, p),
	}
	for _, a := range c.Alerts {
		rb, err := RunbookMarkdown(a, p)
		if err != nil {
			return nil, err
		}
		out[filepath.ToSlash(filepath.Join(RunbookDir, a.Name+".md"))] = rb
	}
	return out, nil
}

// Write writes Files(p) under root and removes runbooks of alerts that no longer exist.
func Write(root string, p Params) error {
	files, err := Files(p)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		full := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("creating directory for %s: %w", path, err)
		}
		if err := os.WriteFile(full, files[path], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	stale, err := filepath.Glob(filepath.Join(root, RunbookDir, "*.md"))
	if err != nil {
		return err
	}
	for _, f := range stale {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return err
		}
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("removing stale runbook %s: %w", rel, err)
			}
		}
	}
	return nil
}
