#!/usr/bin/env bash
# Helm chart checks: `helm lint --strict` and `helm template` with the default and the full
# values (charts/ipamwatch/ci/full-values.yaml) and under another release name and namespace,
# the packaged chart's contents, and the chart's copies of the dashboards (dashboards/*.json)
# identical to their sources, because Helm can only package files inside the chart. The rules
# need no copy: templates/_rules.tpl renders them from the values (written by `go generate
# ./alerts/...`, checked by go test ./alerts/). The strict decoding and policy assertions on the
# rendered objects live in the Go test manifests/ (go test ./manifests/).
#
#   bash scripts/checks.d/20-helm.sh        # check
#   bash scripts/checks.d/20-helm.sh sync   # refresh the chart's copies, then check
set -euo pipefail
cd "$(dirname "$0")/../.."
chart=charts/ipamwatch

sync() {
  mkdir -p "$chart/dashboards"
  find "$chart/dashboards" -maxdepth 1 -name '*.json' -delete
  for f in dashboards/*.json; do
    [ -e "$f" ] && cp "$f" "$chart/dashboards/"
  done
  echo "synced $chart/dashboards from dashboards/"
}
[ "${1:-}" = sync ] && sync

# 1. The copies match their sources.
stale=0
for f in dashboards/*.json; do
  [ -e "$f" ] || continue
  if ! cmp -s "$f" "$chart/dashboards/$(basename "$f")"; then
    echo "FAIL: $chart/dashboards/$(basename "$f") differs from $f" >&2; stale=1
  fi
done
for f in "$chart"/dashboards/*.json; do
  [ -e "$f" ] || continue
  if [ ! -e "dashboards/$(basename "$f")" ]; then
    echo "FAIL: $f has no source in dashboards/" >&2; stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "fix: bash scripts/checks.d/20-helm.sh sync" >&2
  exit 1
fi
ndash=$(find "$chart/dashboards" -maxdepth 1 -name '*.json' | wc -l)
echo "ok: chart copies in sync ($ndash dashboards)"

# 2. Lint and render.
if ! command -v helm >/dev/null 2>&1; then
  if [ "${IPAMWATCH_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "FAIL: helm not found (run scripts/install-tools.sh)" >&2; exit 1
  fi
  echo "SKIP: helm not installed (run scripts/install-tools.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HELM_CACHE_HOME="$tmp/cache" HELM_CONFIG_HOME="$tmp/config" HELM_DATA_HOME="$tmp/data"

# Without a cluster Helm assumes the Kubernetes version it was built against; a `go install`ed
# helm says v1.20.0, below the chart's kubeVersion. Render for a current EKS version instead.
kube=v1.34.0
helm lint --strict --kube-version "$kube" "$chart" >"$tmp/lint.log" 2>&1 || { cat "$tmp/lint.log" >&2; exit 1; }
helm lint --strict --kube-version "$kube" "$chart" --values "$chart/ci/full-values.yaml" >"$tmp/lint-full.log" 2>&1 || { cat "$tmp/lint-full.log" >&2; exit 1; }
if grep -q '^\[INFO\]\|^\[WARNING\]' "$tmp/lint.log" "$tmp/lint-full.log"; then
  echo "FAIL: helm lint has remarks:" >&2; cat "$tmp/lint.log" "$tmp/lint-full.log" >&2; exit 1
fi
echo "ok: helm lint --strict (default and full values), no remarks"

helm template ipamwatch "$chart" --namespace ipamwatch --kube-version "$kube" >"$tmp/default.yaml"
helm template ipamwatch "$chart" --namespace ipamwatch --kube-version "$kube" --values "$chart/ci/full-values.yaml" >"$tmp/full.yaml"
nd=$(grep -c '^kind:' "$tmp/default.yaml"); nf=$(grep -c '^kind:' "$tmp/full.yaml")
[ "$nd" -gt 0 ] && [ "$nf" -gt "$nd" ] || { echo "FAIL: rendered $nd (default) / $nf (full) objects" >&2; exit 1; }
echo "ok: helm template renders $nd objects (default) and $nf (full values)"

# Another release name and namespace: the names follow the release, the Prometheus job does not.
helm template monitoring "$chart" --namespace observability --kube-version "$kube" \
  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set releaseLabel=kube-prometheus-stack >"$tmp/monitoring.yaml"
grep -q '^  name: monitoring-ipamwatch$' "$tmp/monitoring.yaml" || { echo "FAIL: release monitoring renders no monitoring-ipamwatch" >&2; exit 1; }
grep -q '^  jobLabel: app.kubernetes.io/name$' "$tmp/monitoring.yaml" || { echo "FAIL: the ServiceMonitor sets no jobLabel" >&2; exit 1; }
[ "$(grep -c '^    release: kube-prometheus-stack$' "$tmp/monitoring.yaml")" -eq 2 ] || { echo "FAIL: want release=kube-prometheus-stack on the ServiceMonitor and the PrometheusRule" >&2; exit 1; }
echo "ok: release monitoring in namespace observability (job label, release label)"

# The chart still refuses a Kubernetes version below its kubeVersion.
if helm template ipamwatch "$chart" --kube-version v1.24.0 >/dev/null 2>&1; then
  echo "FAIL: the chart renders for Kubernetes v1.24.0, below its kubeVersion" >&2; exit 1
fi
echo "ok: kubeVersion refuses v1.24.0"

# 3. The packaged chart carries the schema, the README and the rules template, and nothing from ci/.
# (go test ./manifests/ checks that the README's values table is generated from values.yaml.)
helm package "$chart" --destination "$tmp/pkg" >/dev/null
tgz=$(ls "$tmp"/pkg/*.tgz)
tar -tzf "$tgz" >"$tmp/contents"
grep -qx 'ipamwatch/values.schema.json' "$tmp/contents" || { echo "FAIL: package lacks values.schema.json" >&2; exit 1; }
grep -qx 'ipamwatch/templates/_rules.tpl' "$tmp/contents" || { echo "FAIL: package lacks templates/_rules.tpl" >&2; exit 1; }
grep -qx 'ipamwatch/README.md' "$tmp/contents" || { echo "FAIL: package lacks README.md (Artifact Hub shows it)" >&2; exit 1; }
if grep -q '^ipamwatch/ci/' "$tmp/contents"; then echo "FAIL: package ships ci/" >&2; exit 1; fi
echo "ok: helm package $(basename "$tgz") ($(wc -l <"$tmp/contents") files)"
