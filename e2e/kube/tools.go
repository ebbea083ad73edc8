//go:build tools

// Package kube pins the Kubernetes programs the test harness (internal/kubetest) runs. It is
// never built as a package: the blank imports keep the commands' dependencies in go.mod and
// go.sum, so `go build k8s.io/kubernetes/cmd/...` from this directory is reproducible.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
