#!/usr/bin/env bash
# Installs everything the test suite, the benchmarks and the CI gates use, on a fresh
# Debian 12 machine with Go. Idempotent: tools already present are skipped.
set -euo pipefail

export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
GOBIN="$(go env GOPATH)/bin"
export PATH="$GOBIN:$PATH"

log() { printf '[install-tools] %s\n' "$*" >&2; }

need_apt=()
for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
            mtail:mtail buildah:buildah prometheus-node-exporter:prometheus-node-exporter curl:curl jq:jq; do
  bin="${pair%%:*}"; pkg="${pair##*:}"
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's packages start their services; the tests start their own on free ports.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    (systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null || true) >/dev/null 2>&1
  done
  pkill -x prometheus 2>/dev/null || true
  pkill -x prometheus-alertmanager 2>/dev/null || true
  pkill -x prometheus-node-exporter 2>/dev/null || true
fi

goinstall() { # binary module@version
  if ! command -v "$1" >/dev/null 2>&1; then
    log "go install $2"
    go install "$2"
  fi
}
goinstall ec2-metadata-mock github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@v1.13.0
goinstall helm helm.sh/helm/v3/cmd/helm@v3.22.0
goinstall kustomize sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
goinstall golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
goinstall govulncheck golang.org/x/vuln/cmd/govulncheck@v1.9.0
goinstall indexdb golang.org/x/vulndb/cmd/indexdb@v0.0.0-20261105234957-e22db6528018
log "tools ready"
