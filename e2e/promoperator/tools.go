//go:build tools

// Package promoperator pins prometheus-operator for the test harness (internal/kubetest). It is
// never built as a package: the blank import keeps the operator's dependencies in go.mod and
// go.sum, so `go build .../cmd/operator` from this directory is reproducible.
package promoperator

import _ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
