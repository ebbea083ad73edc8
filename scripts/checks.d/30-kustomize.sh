#!/usr/bin/env bash
# Kustomize checks: the base and every overlay build, every component is used by some overlay,
# and nothing renders a `latest` image or a machine path. The strict decoding and policy
# assertions on the rendered objects live in the Go test manifests/ (go test ./manifests/).
set -euo pipefail
cd "$(dirname "$0")/../.."

if command -v kustomize >/dev/null 2>&1; then
  build() { kustomize build "$1"; }
  tool="kustomize $(kustomize version 2>/dev/null | head -1)"
elif command -v kubectl >/dev/null 2>&1; then
  build() { kubectl kustomize "$1"; }
  tool="kubectl kustomize"
else
  if [ "${IPAMWATCH_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "FAIL: neither kustomize nor kubectl found (run scripts/install-tools.sh)" >&2; exit 1
  fi
  echo "SKIP: kustomize not installed"; exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for dir in manifests/base manifests/overlays/*/; do
  dir=${dir%/}
  [ -f "$dir/kustomization.yaml" ] || { echo "FAIL: $dir has no kustomization.yaml" >&2; exit 1; }
  out="$tmp/$(echo "$dir" | tr / _).yaml"
  build "$dir" >"$out" 2>"$tmp/err" || { echo "FAIL: $dir does not build:" >&2; cat "$tmp/err" >&2; exit 1; }
  objs=$(grep -c '^kind:' "$out" || true)
  [ "$objs" -gt 0 ] || { echo "FAIL: $dir renders nothing" >&2; exit 1; }
  if grep -nE 'image: .*:latest$' "$out"; then echo "FAIL: $dir renders a latest image" >&2; exit 1; fi
  if grep -nE '(/home/|/root/|/tmp/|/work/)' "$out"; then echo "FAIL: $dir renders a machine path" >&2; exit 1; fi
  echo "ok: $dir ($objs objects)"
  n=$((n+1))
done

for comp in manifests/components/*/; do
  name=$(basename "$comp")
  if ! grep -qs "components/$name\$" manifests/base/kustomization.yaml manifests/overlays/*/kustomization.yaml; then
    echo "FAIL: component $name is used by no overlay, so nothing checks it" >&2; exit 1
  fi
done
echo "ok: $n kustomizations built with $tool; every component is used"
