#!/usr/bin/env bash
# Prepares the release commit of version X.Y.Z (docs/release.md): the Helm chart's version and
# appVersion, the image tags the kustomize manifests pin, and CHANGELOG.md's "Unreleased"
# section, which becomes "[X.Y.Z] - today". Run it, review the diff, commit, tag vX.Y.Z.
# ROOT (default: the repository) lets the release check run it on a copy.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
root="${ROOT:-$here}"
v="${1:?usage: set-version.sh X.Y.Z}"
v="${v#v}"
[[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "not a semantic version: $v" >&2; exit 1; }
chart="$root/charts/ipamwatch/Chart.yaml"
old=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart")
[ -n "$old" ] || { echo "no appVersion in $chart" >&2; exit 1; }
sed -i "s/^version: .*/version: $v/; s/^appVersion: .*/appVersion: \"$v\"/" "$chart"
grep -rlE --include="*.yaml" --include="*.yml" "ghcr\.io/ipamwatch/ipamwatch(-full)?:$old\b" "$root/manifests" 2>/dev/null | while read -r f; do
  sed -i -E "s#(ghcr\.io/ipamwatch/ipamwatch(-full)?):$old\b#\1:$v#g" "$f"
done
cl="$root/CHANGELOG.md"
if ! grep -q "^## \[$v\]" "$cl"; then
  today=$(date -u +%Y-%m-%d)
  sed -i "0,/^## \[Unreleased\]$/s//## [Unreleased]\n\n## [$v] - $today/" "$cl"
  # The link of "Unreleased" (.../commits/main before the first release, .../compare/vOLD...HEAD
  # after) becomes a comparison from this tag, and the new version links to its release.
  sed -i -E "s#^\[Unreleased\]: (https://[^ ]+/ipamwatch)/(commits/main|compare/[^ ]+)\$#[Unreleased]: \1/compare/v$v...HEAD\n[$v]: \1/releases/tag/v$v#" "$cl"
fi
echo "version $old -> $v: $chart, manifests, CHANGELOG.md"
