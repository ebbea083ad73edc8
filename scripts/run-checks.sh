#!/usr/bin/env bash
# Runs every check script in scripts/checks.d in name order (helm, kustomize, image, ...).
# Each script is self-contained, exits non-zero on failure and prints what it proved.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"
fail=0; ran=0
for s in scripts/checks.d/*.sh; do
  [ -e "$s" ] || continue
  ran=$((ran+1))
  echo "=== check $(basename "$s")"
  if bash "$s"; then echo "--- ok   $(basename "$s")"; else echo "--- FAIL $(basename "$s")"; fail=$((fail+1)); fi
done
echo "checks: $((ran-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
