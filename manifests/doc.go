// Package manifests holds the Kubernetes deployment of ipamwatch as kustomize bases, components
// and overlays (the Helm chart lives in charts/ipamwatch). It has no Go API: its tests render
// every overlay and the chart, decode each object strictly into its Kubernetes type and hold
// it to the deployment policy (least privilege, read-only, sized, probed, consistently labelled).
package manifests
