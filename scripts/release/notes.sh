#!/usr/bin/env bash
# Prints CHANGELOG.md's section of version X.Y.Z: the release notes goreleaser publishes
# (--release-notes), so they are written once, in the CHANGELOG.
set -euo pipefail
root="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
v="${1:?usage: notes.sh X.Y.Z}"
v="${v#v}"
awk -v v="$v" '
  $0 ~ "^## \\[" v "\\]" { on = 1; next }
  on && /^## \[/ { exit }
  on && /^\[[^]]+\]: / { exit }
  on { print }
' "$root/CHANGELOG.md" | sed '/./,$!d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
