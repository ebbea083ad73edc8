#!/usr/bin/env bash
# Footprint of the agent in steady state vs Debian's prometheus-node-exporter idling on the
# same machine. The simulated `large` node (15 ENIs, hundreds of pods, ~180 ipamd.log lines/s)
# runs in its own process (bench/demonode), so only the agents' PIDs are measured, with
# production poll intervals. Two agents watch the same node side by side:
#   ipamwatch   the agent-only binary (-tags agentonly, `make build-agent`): what the DaemonSet
#               image runs, and the number the goal is about;
#   full        the whole CLI (`make build`: demo, subnets, maxpods' EC2 lookups linked in), for
#               comparison.
# All three exporters are scraped by curl every 15 s, like Prometheus would. RSS is VmRSS from
# /proc/PID/status (peak of the samples and mean; RssAnon and RssFile split it into private
# memory and file-backed pages of the binary); CPU is the growth of utime+stime from
# /proc/PID/stat over the measured window, in millicores.
#
# Usage: bench/footprint.sh            (FOOTPRINT_SECONDS=120 by default, WARMUP_SECONDS=15;
#                                       IPAMWATCH_BIN / IPAMWATCH_FULL_BIN measure given binaries)
# Ends with: footprint: ipamwatch RSS <MiB> MiB CPU <m> m; node_exporter RSS <MiB> MiB CPU <m> m; full binary RSS <MiB> MiB CPU <m> m
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"

DURATION="${FOOTPRINT_SECONDS:-120}"
WARMUP="${WARMUP_SECONDS:-15}"
SCRAPE_EVERY=15
SAMPLE_EVERY=5
NODE_EXPORTER="${NODE_EXPORTER:-prometheus-node-exporter}"
command -v "$NODE_EXPORTER" >/dev/null || { echo "footprint: $NODE_EXPORTER missing: run scripts/install-tools.sh" >&2; exit 1; }
command -v curl >/dev/null || { echo "footprint: curl missing" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A port nothing answers on (a connect to it is refused).
freeport() { for p in $(shuf -i 20000-60000 -n 50); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# Private builds (same flags as `make build-agent` and `make build`) so a concurrent build
# cannot swap a binary under the measurement.
echo "building ipamwatch (agent-only and full) and bench/demonode"
BIN="${IPAMWATCH_BIN:-}"
if [ -z "$BIN" ]; then
  BIN="$work/ipamwatch-agent"
  CGO_ENABLED=0 go build -trimpath -tags agentonly -ldflags '-s -w' -o "$BIN" ./cmd/ipamwatch
fi
FULL_BIN="${IPAMWATCH_FULL_BIN:-}"
if [ -z "$FULL_BIN" ]; then
  FULL_BIN="$work/ipamwatch"
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$FULL_BIN" ./cmd/ipamwatch
fi
go build -o "$work/demonode" ./bench/demonode

"$work/demonode" --scenario large --dir "$work/logs" --env-file "$work/node.env" >/dev/null 2>"$work/demonode.err" &
pids+=($!)
mkdir -p "$work/logs"
for _ in $(seq 100); do [ -f "$work/node.env" ] && break; sleep 0.1; done
[ -f "$work/node.env" ] || { echo "footprint: demonode did not start:"; cat "$work/demonode.err"; exit 1; } >&2
# shellcheck disable=SC1091
. "$work/node.env"

AP="$(freeport)"; FP="$(freeport)"; NP="$(freeport)"
while [ "$FP" = "$AP" ]; do FP="$(freeport)"; done
while [ "$NP" = "$AP" ] || [ "$NP" = "$FP" ]; do NP="$(freeport)"; done
agent() { # BINARY PORT NAME
  "$1" run --web.listen-address "127.0.0.1:$2" --node-name "$NODE_NAME" --kubernetes=off \
    --ipamd.address "$IPAMD_ADDRESS" --cni.metrics-url "$CNI_METRICS_URL" --imds.endpoint "$IMDS_ENDPOINT" \
    --log.ipamd "$IPAMD_LOG" --log.plugin "$PLUGIN_LOG" \
    --interval.ipamd=30s --interval.cni=30s --interval.imds=5m --log.level warn 2>"$work/$3.err" &
}
agent "$BIN" "$AP" agent
AGENT=$!; pids+=($AGENT)
agent "$FULL_BIN" "$FP" full
FULL=$!; pids+=($FULL)
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$NP" 2>"$work/ne.err" &
NE=$!; pids+=($NE)

up() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }
for _ in $(seq 200); do up "http://127.0.0.1:$AP/readyz" && up "http://127.0.0.1:$FP/readyz" && up "http://127.0.0.1:$NP/metrics" && break; sleep 0.1; done
up "http://127.0.0.1:$AP/readyz" || { echo "footprint: agent-only binary not ready:"; cat "$work/agent.err"; exit 1; } >&2
up "http://127.0.0.1:$FP/readyz" || { echo "footprint: full binary not ready:"; cat "$work/full.err"; exit 1; } >&2
up "http://127.0.0.1:$NP/metrics" || { echo "footprint: node_exporter not serving:"; cat "$work/ne.err"; exit 1; } >&2
# The image's binary must really be the agent-only build.
if "$BIN" demo --list-scenarios >/dev/null 2>&1; then echo "footprint: $BIN is not an agent-only build (demo works)" >&2; exit 1; fi

TCK="$(getconf CLK_TCK)"
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime after the comm field
# RssAnon is the private part of RSS (heap, stacks); RssFile is file-backed pages of the
# binary, shared with the page cache and reclaimable.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
scrape() { for p in "$AP" "$FP" "$NP"; do curl -fsS -o /dev/null --max-time 10 "http://127.0.0.1:$p/metrics"; done; }

names=(ipamwatch full node_exporter)
procs=("$AGENT" "$FULL" "$NE")
echo "warm-up ${WARMUP}s (first polls, log backfill, first scrapes)"
scrape
sleep "$WARMUP"
lines0="$(wc -l <"$IPAMD_LOG")"
declare -a t0s rsum rmax amax fmax
for i in 0 1 2; do t0s[i]="$(ticks "${procs[i]}")"; rsum[i]=0; rmax[i]=0; amax[i]=0; fmax[i]=0; done
t0="$(date +%s.%N)"
printf '%6s %16s %16s %16s   (RSS; RssAnon in parentheses)\n' "t(s)" "ipamwatch" "full" "node_exp"
count=0; next_scrape=0
for ((t = 0; t <= DURATION; t += SAMPLE_EVERY)); do
  if ((t >= next_scrape)); then scrape; next_scrape=$((next_scrape + SCRAPE_EVERY)); fi
  row="$(printf '%6d' "$t")"
  for i in 0 1 2; do
    r="$(status_kib "${procs[i]}" VmRSS)"; a="$(status_kib "${procs[i]}" RssAnon)"; f="$(status_kib "${procs[i]}" RssFile)"
    rsum[i]=$((rsum[i] + r))
    ((r > rmax[i])) && rmax[i]=$r; ((a > amax[i])) && amax[i]=$a; ((f > fmax[i])) && fmax[i]=$f
    row+="$(printf ' %6.1f (%5.1f) MiB' "$(calc "$r/1024")" "$(calc "$a/1024")")"
  done
  count=$((count + 1))
  echo "$row"
  ((t + SAMPLE_EVERY <= DURATION)) && sleep "$SAMPLE_EVERY"
done
declare -a cpu
t1="$(date +%s.%N)"
el="$(calc "$t1 - $t0")"
for i in 0 1 2; do cpu[i]="$(calc "($(ticks "${procs[i]}") - ${t0s[i]}) / $TCK / $el * 1000")"; done
lines1="$(wc -l <"$IPAMD_LOG")"
kill -0 "$AGENT" 2>/dev/null || { echo "footprint: agent-only binary died:"; cat "$work/agent.err"; exit 1; } >&2
kill -0 "$FULL" 2>/dev/null || { echo "footprint: full binary died:"; cat "$work/full.err"; exit 1; } >&2

mib() { calc "$1 / 1024"; }
printf '\nwindow %.1f s; ipamd.log grew %d lines (%.0f lines/s); scrapes every %d s\n' "$el" "$((lines1 - lines0))" "$(calc "($lines1 - $lines0) / $el")" "$SCRAPE_EVERY"
printf 'binaries: ipamwatch (agent-only) %s bytes, full %s bytes\n' "$(stat -c %s "$BIN")" "$(stat -c %s "$FULL_BIN")"
printf '%-14s %12s %12s %14s %14s %10s\n' "" "RSS peak" "RSS mean" "RssAnon peak" "RssFile peak" "CPU"
for i in 0 1 2; do
  printf '%-14s %8.1f MiB %8.1f MiB %10.1f MiB %10.1f MiB %7.2f m\n' "${names[i]}" "$(mib "${rmax[i]}")" "$(mib "$(calc "${rsum[i]} / $count")")" "$(mib "${amax[i]}")" "$(mib "${fmax[i]}")" "${cpu[i]}"
done
for i in 0 1; do
  printf 'ratios %s/node_exporter: RSS peak %.2f, RssAnon peak %.2f, CPU %.2f\n' "${names[i]}" "$(calc "${rmax[i]} / ${rmax[2]}")" "$(calc "${amax[i]} / ${amax[2]}")" "$(calc "${cpu[i]} / (${cpu[2]} + 0.000001)")"
done
printf 'footprint: ipamwatch RSS %.1f MiB CPU %.2f m; node_exporter RSS %.1f MiB CPU %.2f m; full binary RSS %.1f MiB CPU %.2f m\n' \
  "$(mib "${rmax[0]}")" "${cpu[0]}" "$(mib "${rmax[2]}")" "${cpu[2]}" "$(mib "${rmax[1]}")" "${cpu[1]}"
