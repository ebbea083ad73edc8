#!/usr/bin/env bash
# Runs every benchmark of issue 7 in one go on this machine and prints each one's summary
# line at the end, for docs/performance.md:
#   bench/classify.sh            classification throughput vs grep -F and mtail (classifier's)
#   bench/footprint.sh           RSS and CPU vs prometheus-node-exporter, 2 minutes
#   bench/scrape-latency         /metrics p50/p99, 10 scrapers, healthy and with ipamd hung
#   bench/detect-latency         error line -> counter on /metrics, p99 over 200 trials
#   log flood                    internal/robust TestLogFlood at 100k lines/s for 10 s
# The rotation torture test is logparse's TestTailRotationTorture (run by `make test`).
# Set BENCH_ONLY="footprint detect" to run a subset. Exit status: 1 if any bench failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"
ONLY="${BENCH_ONLY:-classify footprint scrape detect flood}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), $(go env GOVERSION)"
echo "== building ipamwatch (same flags as make build) and the bench programs"
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/ipamwatch" ./cmd/ipamwatch || exit 1
for p in scrape-latency detect-latency; do go build -o "$work/$p" "./bench/$p" || exit 1; done
export IPAMWATCH_BIN="$work/ipamwatch"

failed=(); summary=()
runbench() { # name pattern command...
  local name=$1 pattern=$2; shift 2
  case " $ONLY " in *" $name "*) ;; *) return ;; esac
  echo; echo "== $name: $*"
  if "$@" 2>&1 | tee "$work/$name.out"; then :; else failed+=("$name"); fi
  summary+=("$(grep -E "$pattern" "$work/$name.out" | tail -n 3)")
}

if [ -f bench/classify.sh ]; then
  runbench classify 'ratio|target|ipamwatch' bash bench/classify.sh
fi
runbench footprint '^footprint:|^ratios|^budgets:' env -u IPAMWATCH_BIN bash bench/footprint.sh
runbench scrape '^scrape-latency:' "$work/scrape-latency" --agent "$IPAMWATCH_BIN"
runbench detect '^detect-latency:' "$work/detect-latency" --agent "$IPAMWATCH_BIN"
runbench flood 'flood:|^(FAIL|--- FAIL)' env IPAMWATCH_FLOOD_SECONDS=10 go test -count=1 -run '^TestLogFlood$' -v ./internal/robust/

echo; echo "== summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then echo "FAILED: ${failed[*]}"; exit 1; fi
