#!/usr/bin/env bash
# goreleaser's first step (.goreleaser.yaml `before`): the chart, the manifests and the
# CHANGELOG must all name the version being released, so the chart's version and appVersion
# follow the tag. With --snapshot only their agreement with each other is checked.
#   check-version.sh X.Y.Z | --snapshot
set -euo pipefail
root="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
v=""
fail() { echo "check-version: $*" >&2; exit 1; }
chart="$root/charts/ipamwatch/Chart.yaml"
cv=$(sed -n 's/^version: *//p' "$chart")
av=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart")
[ "$cv" = "$av" ] || fail "Chart.yaml version $cv and appVersion $av differ"
tags=$(grep -rhoE --include="*.yaml" --include="*.yml" "ghcr\.io/ipamwatch/ipamwatch(-full)?:[^\" ]+" "$root/manifests" | sed 's/.*://' | sort -u)
[ "$tags" = "$av" ] || fail "the manifests pin image tags '$(echo $tags)', Chart.yaml appVersion $av"
if [ "${1:-}" != --snapshot ]; then
  v="${1:?usage: check-version.sh X.Y.Z | --snapshot}"
  v="${v#v}"
  [ "$av" = "$v" ] || fail "releasing $v, but Chart.yaml says $av: run scripts/release/set-version.sh $v and commit"
  grep -q "^## \[$v\] - " "$root/CHANGELOG.md" || fail "CHANGELOG.md has no section '## [$v] - DATE'"
fi
echo "check-version: Chart.yaml and the manifests agree on $av${v:+, the version released; CHANGELOG.md has its section}"
