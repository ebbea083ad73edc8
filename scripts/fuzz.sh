#!/usr/bin/env bash
# Runs every native fuzz target (func FuzzXxx in a _test.go file) of the module for a fixed
# time each, one target at a time (go test -fuzz takes a single target per run).
# Usage: scripts/fuzz.sh [DURATION]   e.g. scripts/fuzz.sh 10s (make fuzz), 5s (CI)
# FUZZ_FILTER=regexp limits the targets (matched against "pkg FuzzName").
# New failing inputs land in the package's testdata/fuzz/FuzzXxx/ and fail the run: commit
# them with the fix, they then replay on every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
DURATION="${1:-10s}"
FILTER="${FUZZ_FILTER:-.}"

# The main module's packages only (bench/tailcompare is its own module).
mapfile -t targets < <(
  git ls-files '*_test.go' | grep -v '^bench/tailcompare/' | while read -r f; do
    sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*testing\.F).*/\1/p' "$f" | while read -r name; do
      echo "./$(dirname "$f") $name"
    done
  done | sort -u | grep -E -- "$FILTER" || true
)
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets match $FILTER" >&2
  exit 1
fi
start=$(date +%s); failed=()
for t in "${targets[@]}"; do
  pkg="${t% *}"; name="${t#* }"
  echo "--- fuzz $pkg $name ($DURATION)"
  # -parallel 1 keeps to one core on a shared machine; the seed corpus runs first.
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$DURATION" -parallel=1 "$pkg"; then
    failed+=("$pkg $name")
  fi
done
echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed, $(( $(date +%s) - start )) s"
if ((${#failed[@]})); then printf 'FAILED %s\n' "${failed[@]}"; exit 1; fi
