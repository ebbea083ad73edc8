// Package alerts is the single source of ipamwatch's Prometheus rules: the alert catalog with
// its thresholds (Params), the recording rules that keep dashboards cheap, and the runbooks.
// It renders the plain rules file, the PrometheusRule, docs/alerts.md and docs/runbooks/*.md;
// tests keep the committed copies equal to the generated output and run promtool on them.
package alerts

//go:generate go run ./gen -root ..
