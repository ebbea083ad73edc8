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
# (Output captured first: with pipefail, grep -q closing the pipe early would fail kubectl.)
kubectl_version="$("$GOBIN/kubectl-$KUBE_VERSION" version --client 2>&1 || true)"
if ! grep -qx "Client Version: $KUBE_VERSION" <<<"$kubectl_version"; then
  log "FAILED: $GOBIN/kubectl-$KUBE_VERSION does not report $KUBE_VERSION; delete it and rerun"
  exit 1
fi

build_cached e2e/promoperator \
  "-s -w -X github.com/prometheus/common/version.Version=${OPERATOR_VERSION#v}" \
  "prometheus-operator-$OPERATOR_VERSION=github.com/prometheus-operator/prometheus-operator/cmd/operator"
# The operator's CRDs ship in its module (example/prometheus-operator-crd); the build above put
# the module in the cache, where internal/kubetest finds them with `go mod download -json`.

# A Prometheus with Kubernetes service discovery, for running what prometheus-operator generates
# (kubetest.RunPrometheus): Debian's prometheus is built without kubernetes_sd_configs. Only
# that discovery is compiled in (build tags), which halves the build. Module v0.316.0 is
# Prometheus 3.16.0.
PROMETHEUS_VERSION=v3.16.0
PROMETHEUS_MODULE_VERSION=v0.316.0
if [[ ! -x "$GOBIN/prometheus-$PROMETHEUS_VERSION" ]]; then
  log "building prometheus $PROMETHEUS_VERSION with kubernetes_sd (slow the first time, cached afterwards)"
  start=$SECONDS
  tmp="$(mktemp -d "$GOBIN/.build.XXXXXX")"
  if ! (cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 nice go install -trimpath -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"); then
    rm -rf "$tmp"
    log "FAILED: go install github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"
    exit 1
  fi
  mv "$tmp/prometheus" "$GOBIN/prometheus-$PROMETHEUS_VERSION"
  rm -rf "$tmp"
  log "built prometheus-$PROMETHEUS_VERSION in $((SECONDS - start)) s"
fi

# Debian's awscli 2.9.19 predates EKS Pod Identity. internal/commandtest runs the printed
# `aws eks ...` commands with that awscli after `aws configure add-model` of AWS's newer EKS
# model, which the aws-sdk npm package ships; only that file is kept, cached by version. The
# package comes straight from the npm registry (no node or npm needed), checked by its sha256.
AWS_SDK_JS_VERSION=2.1693.0 # internal/commandtest awsSDKJSVersion
AWS_SDK_JS_SHA256=9ec237477ac3852d06f2fbd9a382207906ef5a35f99a7cb38c504c2ad2f85291
model_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ipamwatch/aws-sdk-js-$AWS_SDK_JS_VERSION"
if [[ ! -s "$model_dir/eks-2017-11-01.min.json" ]]; then
  log "fetching aws-sdk@$AWS_SDK_JS_VERSION from the npm registry (keeping apis/eks-2017-11-01.min.json)"
  tmp="$(mktemp -d)"
  tgz="$tmp/aws-sdk-$AWS_SDK_JS_VERSION.tgz"
  if ! curl -sSfL --retry 3 -o "$tgz" "https://registry.npmjs.org/aws-sdk/-/aws-sdk-$AWS_SDK_JS_VERSION.tgz"; then
    rm -rf "$tmp"
    log "FAILED: download of aws-sdk@$AWS_SDK_JS_VERSION"
    exit 1
  fi
  if ! echo "$AWS_SDK_JS_SHA256  $tgz" | sha256sum --check --status; then
    rm -rf "$tmp"
    log "FAILED: aws-sdk-$AWS_SDK_JS_VERSION.tgz does not have the expected sha256"
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/apis/eks-2017-11-01.min.json
  mkdir -p "$model_dir"
  mv "$tmp/package/apis/eks-2017-11-01.min.json" "$model_dir/eks-2017-11-01.min.json"
  rm -rf "$tmp"
fi
log "tools ready"
