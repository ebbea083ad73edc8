#!/usr/bin/env bash
# The agent's footprint and every other per-node budget, measured in one run on one machine
# against Debian's prometheus-node-exporter. The simulated `large` node (15 ENIs, hundreds of
# pods, ~180 ipamd.log lines/s, and its view of the Kubernetes API served over TLS with a
# bearer token) runs in its own process (bench/demonode), so only the exporters' PIDs are
# measured, with production poll intervals. Side by side:
#   ipamwatch      the agent-only binary (-tags agentonly, `make build-agent`): what the
#                  DaemonSet image runs, with the Kubernetes source on (GET its Node and LIST
#                  its pods every 60 s through collectors/kube), and what the budgets are about;
#   before         optional (BEFORE_REF=<git ref>): the agent-only binary built from that ref,
#                  with --kubernetes=off (a client-go build reads only the in-cluster
#                  configuration, so it cannot be pointed at the simulated API server);
#   full           the whole CLI (`make build`: demo, subnets, maxpods' EC2 lookups linked in),
#                  Kubernetes on, for comparison;
#   node_exporter  Debian's, default collectors, idle.
#
# Phases, all in this one run:
#   1. footprint: every exporter scraped by curl every 15 s, like Prometheus would, for
#      FOOTPRINT_SECONDS. RSS is VmRSS from /proc/PID/status (peak of the samples and mean;
#      RssAnon and RssFile split it into private memory and file-backed pages of the
#      binary); CPU is the growth of utime+stime over the window, in millicores.
#   2. scrape cost (bench/scrape-cost): SCRAPES scrapes of ipamwatch and node_exporter in
#      turn, keep-alive and gzip as Prometheus scrapes: latency p50/p99, CPU per scrape,
#      series per node.
#   3. detection latency (bench/detect-latency): error line -> counter on /metrics, 200
#      trials, same agent-only binary.
# Then the budgets: RSS <= node_exporter's, CPU <= 5 millicores, scrape latency and CPU per
# scrape <= node_exporter's, detection p99 < 1 s, <= 300 series. Exit status 1 if one is missed.
#
# Usage: bench/footprint.sh   (FOOTPRINT_SECONDS=120, WARMUP_SECONDS=15, SCRAPES=300,
#                              DETECT_TRIALS=200; IPAMWATCH_BIN / IPAMWATCH_FULL_BIN measure
#                              given binaries; BEFORE_REF=<ref> adds the "before" agent)
# Ends with: footprint: ipamwatch RSS <MiB> MiB CPU <m> m; node_exporter RSS <MiB> MiB CPU <m> m; full binary RSS <MiB> MiB CPU <m> m
#      then: budgets: ... <met|MISSED> ...
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"

DURATION="${FOOTPRINT_SECONDS:-120}"
WARMUP="${WARMUP_SECONDS:-15}"
SCRAPES="${SCRAPES:-300}"
DETECT_TRIALS="${DETECT_TRIALS:-200}"
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

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# Private builds (same flags as `make build-agent` and `make build`) so a concurrent build
# cannot swap a binary under the measurement.
echo "building ipamwatch (agent-only and full), bench/demonode, bench/scrape-cost, bench/detect-latency"
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
BEFORE_BIN=""
if [ -n "${BEFORE_REF:-}" ]; then
  mkdir -p "$work/before-src"
  git archive "$BEFORE_REF" | tar -x -C "$work/before-src"
  BEFORE_BIN="$work/ipamwatch-agent-before"
  (cd "$work/before-src" && CGO_ENABLED=0 go build -trimpath -tags agentonly -ldflags '-s -w' -o "$BEFORE_BIN" ./cmd/ipamwatch)
fi
for p in demonode scrape-cost detect-latency; do go build -o "$work/$p" "./bench/$p"; done

"$work/demonode" --scenario large --dir "$work/logs" --env-file "$work/node.env" >/dev/null 2>"$work/demonode.err" &
pids+=($!)
mkdir -p "$work/logs"
for _ in $(seq 100); do [ -f "$work/node.env" ] && break; sleep 0.1; done
[ -f "$work/node.env" ] || { echo "footprint: demonode did not start:"; cat "$work/demonode.err"; exit 1; } >&2
# shellcheck disable=SC1091
. "$work/node.env"

# Free loopback ports, distinct from one another.
ports=()
freeport() {
  local p
  while :; do
    p=$(shuf -i 20000-60000 -n 1)
    [[ " ${ports[*]} " == *" $p "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    ports+=("$p"); echo "$p"; return
  done
}
kube_on=(--kubernetes=on --kubernetes.api-server "$KUBE_API_SERVER" --kubernetes.ca-file "$KUBE_CA_FILE"
  --kubernetes.token-file "$KUBE_TOKEN_FILE" --interval.kubernetes=60s)
agent() { # NAME BINARY PORT KUBERNETES-FLAGS...
  local name=$1 bin=$2 port=$3; shift 3
  "$bin" run --web.listen-address "127.0.0.1:$port" --node-name "$NODE_NAME" "$@" \
    --ipamd.address "$IPAMD_ADDRESS" --cni.metrics-url "$CNI_METRICS_URL" --imds.endpoint "$IMDS_ENDPOINT" \
    --log.ipamd "$IPAMD_LOG" --log.plugin "$PLUGIN_LOG" \
    --interval.ipamd=30s --interval.cni=30s --interval.imds=5m --log.level warn 2>"$work/$name.err" &
}

names=(); procs=(); urls=()
start_agent() { # NAME BINARY KUBERNETES-FLAGS...
  local name=$1 bin=$2 port; shift 2
  port=$(freeport)
  agent "$name" "$bin" "$port" "$@"
  names+=("$name"); procs+=($!); pids+=($!); urls+=("http://127.0.0.1:$port")
}
start_agent ipamwatch "$BIN" "${kube_on[@]}"
[ -n "$BEFORE_BIN" ] && start_agent before "$BEFORE_BIN" --kubernetes=off
start_agent full "$FULL_BIN" "${kube_on[@]}"
NP=$(freeport)
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$NP" 2>"$work/node_exporter.err" &
names+=(node_exporter); procs+=($!); pids+=($!); urls+=("http://127.0.0.1:$NP")
last=$((${#names[@]} - 1)) # node_exporter

up() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }
ready() { # INDEX
  if [ "${names[$1]}" = node_exporter ]; then up "${urls[$1]}/metrics"; else up "${urls[$1]}/readyz"; fi
}
for _ in $(seq 300); do
  all=1; for i in "${!names[@]}"; do ready "$i" || all=0; done
  ((all)) && break; sleep 0.1
done
for i in "${!names[@]}"; do
  ready "$i" || { echo "footprint: ${names[i]} not ready:"; cat "$work/${names[i]}.err"; exit 1; } >&2
done
# The image's binary must really be the agent-only build.
if "$BIN" demo --list-scenarios >/dev/null 2>&1; then echo "footprint: $BIN is not an agent-only build (demo works)" >&2; exit 1; fi

TCK="$(getconf CLK_TCK)"
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime after the comm field
# RssAnon is the private part of RSS (heap, stacks); RssFile is file-backed pages of the
# binary, shared with the page cache and reclaimable.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
scrape() { for u in "${urls[@]}"; do curl -fsS -o /dev/null --max-time 10 "$u/metrics"; done; }
sample() { # URL SERIES: the value of one series on /metrics
  curl -fsS --max-time 10 "$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 { print $2 }'
}

echo "warm-up ${WARMUP}s (first polls, log backfill, first scrapes)"
scrape
sleep "$WARMUP"
lines0="$(wc -l <"$IPAMD_LOG")"
declare -a t0s rsum rmax amax fmax
for i in "${!names[@]}"; do t0s[i]="$(ticks "${procs[i]}")"; rsum[i]=0; rmax[i]=0; amax[i]=0; fmax[i]=0; done
t0="$(date +%s.%N)"
header="$(printf '%6s' "t(s)")"; for n in "${names[@]}"; do header+="$(printf ' %16s' "$n")"; done
echo "$header   (RSS; RssAnon in parentheses)"
count=0; next_scrape=0
for ((t = 0; t <= DURATION; t += SAMPLE_EVERY)); do
  if ((t >= next_scrape)); then scrape; next_scrape=$((next_scrape + SCRAPE_EVERY)); fi
  row="$(printf '%6d' "$t")"
  for i in "${!names[@]}"; do
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
for i in "${!names[@]}"; do cpu[i]="$(calc "($(ticks "${procs[i]}") - ${t0s[i]}) / $TCK / $el * 1000")"; done
lines1="$(wc -l <"$IPAMD_LOG")"
for i in "${!names[@]}"; do
  kill -0 "${procs[i]}" 2>/dev/null || { echo "footprint: ${names[i]} died:"; cat "$work/${names[i]}.err"; exit 1; } >&2
done
# The Kubernetes source must really have run in the measured agents.
for i in "${!names[@]}"; do
  case "${names[i]}" in ipamwatch | full) ;; *) continue ;; esac
  v="$(sample "${urls[i]}" 'ipamwatch_source_up{source="kubernetes"}')"
  [ "$v" = 1 ] || { echo "footprint: ${names[i]}: ipamwatch_source_up{source=\"kubernetes\"} is '$v', want 1:"; cat "$work/${names[i]}.err"; exit 1; } >&2
done
kpods="$(sample "${urls[0]}" 'ipamwatch_pods{network="pod"}')"

mib() { calc "$1 / 1024"; }
printf '\nwindow %.1f s; ipamd.log grew %d lines (%.0f lines/s); scrapes every %d s; the Kubernetes source lists %s pod-network pods\n' \
  "$el" "$((lines1 - lines0))" "$(calc "($lines1 - $lines0) / $el")" "$SCRAPE_EVERY" "$kpods"
printf 'binaries: ipamwatch (agent-only) %s bytes, full %s bytes' "$(stat -c %s "$BIN")" "$(stat -c %s "$FULL_BIN")"
[ -n "$BEFORE_BIN" ] && printf ', before (%s) %s bytes' "$BEFORE_REF" "$(stat -c %s "$BEFORE_BIN")"
printf '\n%-14s %12s %12s %14s %14s %10s\n' "" "RSS peak" "RSS mean" "RssAnon peak" "RssFile peak" "CPU"
for i in "${!names[@]}"; do
  printf '%-14s %8.1f MiB %8.1f MiB %10.1f MiB %10.1f MiB %7.2f m\n' "${names[i]}" "$(mib "${rmax[i]}")" "$(mib "$(calc "${rsum[i]} / $count")")" "$(mib "${amax[i]}")" "$(mib "${fmax[i]}")" "${cpu[i]}"
done
for ((i = 0; i < last; i++)); do
  printf 'ratios %s/node_exporter: RSS peak %.2f, RssAnon peak %.2f, CPU %.2f\n' "${names[i]}" "$(calc "${rmax[i]} / ${rmax[last]}")" "$(calc "${amax[i]} / ${amax[last]}")" "$(calc "${cpu[i]} / (${cpu[last]} + 0.000001)")"
done

echo; echo "scrape cost: $SCRAPES scrapes each, in turn, keep-alive and gzip"
"$work/scrape-cost" --n "$SCRAPES" --target "ipamwatch=${urls[0]}/metrics,${procs[0]}" \
  --target "node_exporter=${urls[last]}/metrics,${procs[last]}" | tee "$work/scrape.out"

echo; echo "detection latency: $DETECT_TRIALS trials"
"$work/detect-latency" --agent "$BIN" --trials "$DETECT_TRIALS" | tee "$work/detect.out" || true

# Budgets.
field() { awk -v n="$1" -v k="$2" '$1 == n { for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$work/scrape.out"; }
cpu_per() { awk -v n="$1" '$1 == n { for (i = 1; i < NF; i++) if ($i == "CPU") { print $(i + 1); exit } }' "$work/scrape.out"; }
series="$(awk '$1 == "ipamwatch" { for (i = 1; i < NF; i++) if ($(i + 1) == "series") { print $i; exit } }' "$work/scrape.out")"
detect_p99="$(awk '/^detect-latency:/ { for (i = 1; i < NF; i++) if ($i == "p99") { print $(i + 1); exit } }' "$work/detect.out")"
verdicts=(); missed=0
check() { # NAME OK(1/0) TEXT
  if [ "$2" = 1 ]; then verdicts+=("$1 $3 met"); else verdicts+=("$1 $3 MISSED"); missed=1; fi
}
le() { awk "BEGIN { exit !($1 <= $2) }" && echo 1 || echo 0; }
check "RSS" "$(le "${rmax[0]}" "${rmax[last]}")" "$(printf '%.1f <= %.1f MiB' "$(mib "${rmax[0]}")" "$(mib "${rmax[last]}")")"
check "CPU" "$(le "${cpu[0]}" 5)" "$(printf '%.2f <= 5 m' "${cpu[0]}")"
check "scrape-p50" "$(le "$(field ipamwatch p50)" "$(field node_exporter p50)")" "$(field ipamwatch p50) <= $(field node_exporter p50) ms"
check "scrape-p99" "$(le "$(field ipamwatch p99)" "$(field node_exporter p99)")" "$(field ipamwatch p99) <= $(field node_exporter p99) ms"
check "scrape-CPU" "$(le "$(cpu_per ipamwatch)" "$(cpu_per node_exporter)")" "$(cpu_per ipamwatch) <= $(cpu_per node_exporter) ms"
check "detection-p99" "$( [ -n "$detect_p99" ] && le "$detect_p99" 999.999 || echo 0)" "${detect_p99:-?} < 1000 ms"
check "series" "$( [ -n "$series" ] && le "$series" 300 || echo 0)" "${series:-?} <= 300"

echo
printf 'footprint: ipamwatch RSS %.1f MiB CPU %.2f m; node_exporter RSS %.1f MiB CPU %.2f m; full binary RSS %.1f MiB CPU %.2f m\n' \
  "$(mib "${rmax[0]}")" "${cpu[0]}" "$(mib "${rmax[last]}")" "${cpu[last]}" "$(mib "${rmax[last - 1]}")" "${cpu[last - 1]}"
printf 'budgets: %s\n' "$(IFS=';'; echo "${verdicts[*]}" | sed 's/;/; /g')"
exit "$missed"
