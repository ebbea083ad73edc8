// Package e2e holds the end-to-end test of the shipped alert rules and dashboards: it runs
// `ipamwatch demo` for every scenario, the cluster-level `ipamwatch subnets` view against a fake
// EC2, Debian's Prometheus and Alertmanager, and a webhook receiver, all on 127.0.0.1, and
// checks that the expected alerts fire and are delivered, that healthy nodes stay quiet, and
// that every dashboard query returns data. The package has no code besides its tests.
package e2e
