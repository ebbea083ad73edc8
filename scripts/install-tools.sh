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
# Checked by path, not on PATH: the tests run /usr/bin/aws (Debian's awscli v2) because some
# machines have a pip awscli v1 earlier in PATH, and /usr/bin/etcd (etcd-server) under the test
# kube-apiserver (internal/kubetest).
for pair in /usr/bin/etcd:etcd-server /usr/bin/aws:awscli; do
  path="${pair%%:*}"; pkg="${pair##*:}"
  [[ -x "$path" ]] || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's packages start their services; the tests start their own on free ports.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter etcd; do
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

# Programs built from source once and cached by version in $GOBIN, for internal/kubetest:
# kube-apiserver and kubectl from the e2e/kube module, prometheus-operator from
# e2e/promoperator (go install refuses both: their go.mod files replace modules with local
# paths). The versions below must match those go.mod files and internal/kubetest (a test there
# checks). The first kube-apiserver build takes about 13 minutes on two busy cores; later runs
# find the cached binaries and skip the build.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBE_VERSION=v1.37.2
KUBE_BUILD_DATE=2026-10-27T12:01:04Z # k8s.io/kubernetes@v1.37.2's publication time: a reproducible stamp
OPERATOR_VERSION=v0.85.0

# build_cached MODULE_DIR LDFLAGS NAME=PACKAGE...: builds every PACKAGE whose $GOBIN/NAME is
# missing, in one go build (the packages share most of their dependencies). The binaries are
# written to a directory inside $GOBIN and renamed into place, so an interrupted build never
# leaves a half-written binary that a later run would take for a cached one.
build_cached() {
  local dir="$1" ldflags="$2" spec i tmp start
  shift 2
  local names=() pkgs=()
  for spec in "$@"; do
    [[ -x "$GOBIN/${spec%%=*}" ]] && continue
    names+=("${spec%%=*}")
    pkgs+=("${spec#*=}")
  done
  ((${#pkgs[@]})) || return 0
  mkdir -p "$GOBIN"
  tmp="$(mktemp -d "$GOBIN/.build.XXXXXX")"
  log "building ${names[*]} in $dir (slow the first time, cached afterwards)"
  start=$SECONDS
  if ! (cd "$ROOT/$dir" && CGO_ENABLED=0 nice go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"); then
    rm -rf "$tmp"
    log "FAILED: go build ${pkgs[*]} in $dir"
    exit 1
  fi
  for i in "${!names[@]}"; do
    mv "$tmp/$(basename "${pkgs[$i]}")" "$GOBIN/${names[$i]}"
  done
  rm -rf "$tmp"
  log "built ${names[*]} in $((SECONDS - start)) s"
}

# kubectl and kube-apiserver report the version they were stamped with (kubectl version says
# v0.0.0-master without it); these are the variables Kubernetes' own hack/lib/version.sh sets.
IFS=. read -r kube_major kube_minor _ <<<"${KUBE_VERSION#v}"
kube_ldflags="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  kube_ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$kube_major -X $p.gitMinor=$kube_minor"
  kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$KUBE_BUILD_DATE -X $p.gitCommit="
done
build_cached e2e/kube "$kube_ldflags" \
  "kube-apiserver-$KUBE_VERSION=k8s.io/kubernetes/cmd/kube-apiserver" \
  "kubectl-$KUBE_VERSION=k8s.io/kubernetes/cmd/kubectl"
if ! "$GOBIN/kubectl-$KUBE_VERSION" version --client 2>/dev/null | grep -qx "Client Version: $KUBE_VERSION"; then
  log "FAILED: $GOBIN/kubectl-$KUBE_VERSION does not report $KUBE_VERSION; delete it and rerun"
  exit 1
fi

build_cached e2e/promoperator \
  "-s -w -X github.com/prometheus/common/version.Version=${OPERATOR_VERSION#v}" \
  "prometheus-operator-$OPERATOR_VERSION=github.com/prometheus-operator/prometheus-operator/cmd/operator"
# The operator's CRDs ship in its module (example/prometheus-operator-crd); the build above put
# the module in the cache, where internal/kubetest finds them with `go mod download -json`.
# Debian's awscli 2.9.19 predates EKS Pod Identity. internal/commandtest runs the printed
# `aws eks ...` commands with that awscli after `aws configure add-model` of AWS's newer EKS
# model, which the aws-sdk npm package ships; only that file is kept, cached by version.
AWS_SDK_JS_VERSION=2.1693.0 # internal/commandtest awsSDKJSVersion
model_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ipamwatch/aws-sdk-js-$AWS_SDK_JS_VERSION"
if [[ ! -s "$model_dir/eks-2017-11-01.min.json" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "apt-get install npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; }
  fi
  log "npm pack aws-sdk@$AWS_SDK_JS_VERSION (keeping apis/eks-2017-11-01.min.json)"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "aws-sdk@$AWS_SDK_JS_VERSION" >/dev/null &&
    tar -xzf "aws-sdk-$AWS_SDK_JS_VERSION.tgz" package/apis/eks-2017-11-01.min.json)
  mkdir -p "$model_dir"
  mv "$tmp/package/apis/eks-2017-11-01.min.json" "$model_dir/eks-2017-11-01.min.json"
  rm -rf "$tmp"
fi
log "tools ready"
