#!/usr/bin/env bash
# Short fuzzing in CI: every fuzz target for FUZZ_TIME (5 s) each, after its seed corpus.
# 12 targets x 5 s plus instrumented builds stay under 3 minutes on a warm build cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/fuzz.sh "${FUZZ_TIME:-5s}"
