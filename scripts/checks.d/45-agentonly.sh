#!/usr/bin/env bash
# The agent-only build (`-tags agentonly`, the DaemonSet image's binary) compiles, vets and
# passes its tests, and really leaves the heavy dependencies out: the EC2 API client
# (aws-sdk-go-v2/service/ec2, pulled in by `subnets` and maxpods' EC2 lookup) and client-go,
# its typed clientset and k8s.io/api (the agent reads the Kubernetes API with its own small
# client, collectors/kube; `subnets` keeps client-go for leader election and its node list).
# The same packages must be in the full build, so that a renamed import path cannot make this
# check pass by matching nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
fail() { echo "FAIL: $*" >&2; exit 1; }
cmd=./cmd/ipamwatch
heavy=(
  github.com/aws/aws-sdk-go-v2/service/ec2
  k8s.io/client-go/kubernetes
  k8s.io/client-go/rest
  k8s.io/api/core/v1
  k8s.io/apimachinery/pkg/runtime
  github.com/ipamwatch/ipamwatch/demo
  github.com/ipamwatch/ipamwatch/subnets
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -tags agentonly -o "$out/agent" "$cmd"
go vet -tags agentonly "$cmd"
go test -count=1 -tags agentonly "$cmd" >"$out/test.log" 2>&1 || { cat "$out/test.log" >&2; fail "go test -tags agentonly $cmd"; }
echo "ok: go build, go vet and go test with -tags agentonly ($cmd)"

agent_deps=$(go list -deps -tags agentonly "$cmd")
full_deps=$(go list -deps "$cmd")
for p in "${heavy[@]}"; do
  grep -qxF "$p" <<<"$full_deps" || fail "$p is not in the full build's dependencies any more: update this check"
  ! grep -qxF "$p" <<<"$agent_deps" || fail "the agent-only build still depends on $p ($(go list -deps -tags agentonly -f '{{.ImportPath}} {{join .Imports " "}}' "$cmd" | grep -F " $p" | cut -d' ' -f1 | head -3 | tr '\n' ' '))"
done
echo "ok: agent-only build leaves out ${heavy[*]} ($(wc -l <<<"$agent_deps") packages, full build $(wc -l <<<"$full_deps"))"

# Every left-out command still exists and says where to find it.
set +e
msg=$("$out/agent" subnets --once 2>&1 >/dev/null)
code=$?
set -e
[ "$code" = 1 ] && grep -qF "not in this build; use the full ipamwatch binary" <<<"$msg" \
  || fail "agent-only binary: subnets exited $code: $msg"
echo "ok: agent-only binary ($(du -h "$out/agent" | cut -f1)): subnets answers 'not in this build' (exit 1)"
