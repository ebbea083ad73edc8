// Package commandtest proves that the shell commands ipamwatch prints run as pasted: every
// finding's confirm script (in each situation its variables are bound in: a live node, a
// log-collector bundle, a runbook), every ```sh block of a fix, of a runbook and of the
// README and docs. It parses each one with a real shell parser, then runs the scripts whole
// with bash: `aws` is Debian's awscli v2 against subnets/fakeec2 (EC2, IAM, Service Quotas and
// EKS through one --endpoint-url), run in children of a fork server that imported it once
// (testdata/awsfork), `kubectl` is the real kubectl against a real kube-apiserver
// (internal/kubetest) holding the demo node, its pods and aws-node, and `ipamwatch` is the
// binary built from this module. Where a command hands over to a kubelet (logs, debug,
// port-forward, the end of a deletion), a stand-in answers (kubelet_test.go); a runbook's
// Prometheus lookups go to Debian's Prometheus evaluating the shipped rules on a real agent.
// The package has no code besides its tests.
package commandtest
