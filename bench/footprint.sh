#!/usr/bin/env bash
# Footprint of the agent in steady state vs Debian's prometheus-node-exporter idling on the
# same machine. The simulated `large` node (15 ENIs, hundreds of pods, ~180 ipamd.log lines/s)
# runs in its own process (bench/demonode), so only `ipamwatch run`'s PID is measured, with
# production poll intervals. Both exporters are scraped by curl every 15 s, like Prometheus
# would. RSS is VmRSS from /proc/PID/status (peak of the samples and mean); CPU is the growth
# of utime+stime from /proc/PID/stat over the measured window, in millicores.
#
# Usage: bench/footprint.sh            (FOOTPRINT_SECONDS=120 by default, WARMUP_SECONDS=15)
# Ends with: footprint: ipamwatch RSS <MiB> MiB CPU <m> m; node_exporter RSS <MiB> MiB CPU <m> m
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

# A private build (same flags as `make build`) so a concurrent `make build` cannot swap the
# binary under the measurement; IPAMWATCH_BIN measures a given binary instead.
echo "building ipamwatch and bench/demonode"
BIN="${IPAMWATCH_BIN:-}"
if [ -z "$BIN" ]; then
  BIN="$work/ipamwatch"
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN" ./cmd/ipamwatch
fi
go build -o "$work/demonode" ./bench/demonode

"$work/demonode" --scenario large --dir "$work/logs" --env-file "$work/node.env" >/dev/null 2>"$work/demonode.err" &
pids+=($!)
mkdir -p "$work/logs"
for _ in $(seq 100); do [ -f "$work/node.env" ] && break; sleep 0.1; done
[ -f "$work/node.env" ] || { echo "footprint: demonode did not start:"; cat "$work/demonode.err"; exit 1; } >&2
# shellcheck disable=SC1091
. "$work/node.env"

AP="$(freeport)"; NP="$(freeport)"
while [ "$NP" = "$AP" ]; do NP="$(freeport)"; done
"$BIN" run --web.listen-address "127.0.0.1:$AP" --node-name "$NODE_NAME" --kubernetes=off \
  --ipamd.address "$IPAMD_ADDRESS" --cni.metrics-url "$CNI_METRICS_URL" --imds.endpoint "$IMDS_ENDPOINT" \
  --log.ipamd "$IPAMD_LOG" --log.plugin "$PLUGIN_LOG" \
  --interval.ipamd=30s --interval.cni=30s --interval.imds=5m --log.level warn 2>"$work/agent.err" &
AGENT=$!; pids+=($AGENT)
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$NP" 2>"$work/ne.err" &
NE=$!; pids+=($NE)

up() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }
for _ in $(seq 200); do up "http://127.0.0.1:$AP/readyz" && up "http://127.0.0.1:$NP/metrics" && break; sleep 0.1; done
up "http://127.0.0.1:$AP/readyz" || { echo "footprint: agent not ready:"; cat "$work/agent.err"; exit 1; } >&2
up "http://127.0.0.1:$NP/metrics" || { echo "footprint: node_exporter not serving:"; cat "$work/ne.err"; exit 1; } >&2

TCK="$(getconf CLK_TCK)"
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime after the comm field
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# RssAnon is the private part of RSS (heap, stacks); the rest is file-backed pages of the
# binary, shared with the page cache and reclaimable.
anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
scrape() { curl -fsS -o /dev/null --max-time 10 "http://127.0.0.1:$AP/metrics"; curl -fsS -o /dev/null --max-time 10 "http://127.0.0.1:$NP/metrics"; }

echo "warm-up ${WARMUP}s (first polls, log backfill, first scrapes)"
scrape
sleep "$WARMUP"
lines0="$(wc -l <"$IPAMD_LOG")"
a0="$(ticks "$AGENT")"; n0="$(ticks "$NE")"; t0="$(date +%s.%N)"
printf '%6s %16s %16s %18s %18s\n' "t(s)" "ipamwatch RSS" "node_exp RSS" "ipamwatch anon" "node_exp anon"
asum=0; nsum=0; amax=0; nmax=0; aamax=0; namax=0; count=0; next_scrape=0
for ((t = 0; t <= DURATION; t += SAMPLE_EVERY)); do
  if ((t >= next_scrape)); then scrape; next_scrape=$((next_scrape + SCRAPE_EVERY)); fi
  ar="$(rss_kib "$AGENT")"; nr="$(rss_kib "$NE")"; aa="$(anon_kib "$AGENT")"; na="$(anon_kib "$NE")"
  asum=$((asum + ar)); nsum=$((nsum + nr)); count=$((count + 1))
  ((ar > amax)) && amax=$ar; ((nr > nmax)) && nmax=$nr; ((aa > aamax)) && aamax=$aa; ((na > namax)) && namax=$na
  printf '%6d %12.1f MiB %12.1f MiB %14.1f MiB %14.1f MiB\n' "$t" "$(calc "$ar/1024")" "$(calc "$nr/1024")" "$(calc "$aa/1024")" "$(calc "$na/1024")"
  ((t + SAMPLE_EVERY <= DURATION)) && sleep "$SAMPLE_EVERY"
done
a1="$(ticks "$AGENT")"; n1="$(ticks "$NE")"; t1="$(date +%s.%N)"
lines1="$(wc -l <"$IPAMD_LOG")"
kill -0 "$AGENT" 2>/dev/null || { echo "footprint: agent died:"; cat "$work/agent.err"; exit 1; } >&2

el="$(calc "$t1 - $t0")"
acpu="$(calc "($a1 - $a0) / $TCK / $el * 1000")"
ncpu="$(calc "($n1 - $n0) / $TCK / $el * 1000")"
mib() { calc "$1 / 1024"; }
printf '\nwindow %.1f s; ipamd.log grew %d lines (%.0f lines/s); scrapes every %d s\n' "$el" "$((lines1 - lines0))" "$(calc "($lines1 - $lines0) / $el")" "$SCRAPE_EVERY"
printf '%-14s %12s %12s %14s %10s\n' "" "RSS peak" "RSS mean" "RssAnon peak" "CPU"
printf '%-14s %8.1f MiB %8.1f MiB %10.1f MiB %7.2f m\n' ipamwatch "$(mib $amax)" "$(mib "$(calc "$asum / $count")")" "$(mib $aamax)" "$acpu"
printf '%-14s %8.1f MiB %8.1f MiB %10.1f MiB %7.2f m\n' node_exporter "$(mib $nmax)" "$(mib "$(calc "$nsum / $count")")" "$(mib $namax)" "$ncpu"
printf 'ratios ipamwatch/node_exporter: RSS peak %.2f, RssAnon peak %.2f, CPU %.2f\n' "$(calc "$amax / $nmax")" "$(calc "$aamax / $namax")" "$(calc "$acpu / ($ncpu + 0.000001)")"
printf 'footprint: ipamwatch RSS %.1f MiB CPU %.2f m; node_exporter RSS %.1f MiB CPU %.2f m\n' "$(mib $amax)" "$acpu" "$(mib $nmax)" "$ncpu"
