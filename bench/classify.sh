#!/usr/bin/env bash
# Classification benchmark: generate a realistic ipamd.log (~1% failure lines) and, in the
# same run, time
#   (a) ipamwatch classify --summary   (full classification and field extraction)
#   (b) grep -F -c -f literals.txt     (the same signature literals, no classification)
#   (c) mtail --one_shot               (bench/mtail/ipamd.mtail: the same taxonomy)
# It prints wall time, CPU time (user+sys), max RSS and the ratios ipamwatch/grep (target
# <= 1.0) and mtail/ipamwatch (target >= 50). Ratios use CPU time: the machines this runs on
# are shared, and CPU time is what a busy neighbour inflates least. Counts are checked
# against the generator's ground truth; a wrong count fails the run.
#
#   bash bench/classify.sh            # 1M lines
#   LINES=200000 bash bench/classify.sh
#   STRICT=1 bash bench/classify.sh   # also fail when a speed target is missed
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"

LINES="${LINES:-1000000}"
RUNS="${RUNS:-3}"
work="$(mktemp -d)"
mtail_pid=""
cleanup() {
  if [ -n "$mtail_pid" ]; then kill "$mtail_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }
die() { say "classify-bench: $*"; exit 1; }

[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install -y time)"
command -v mtail >/dev/null || die "mtail is missing (apt-get install -y mtail, or scripts/install-tools.sh)"

say "== building ipamwatch and generating $LINES lines"
go build -o "$work/ipamwatch" ./cmd/ipamwatch
go run ./bench/gen -lines "$LINES" -out "$work/ipamd.log" -truth "$work/truth.json"
size_mb=$(awk -v b="$(stat -c %s "$work/ipamd.log")" 'BEGIN{printf "%.1f", b/1048576}')

# The literals grep searches: every signature of logparse's table, in the case real logs
# use (the classifier matches most phrases case-insensitively; grep -i would be slower).
cat >"$work/literals.txt" <<'EOF'
InsufficientFreeAddressesInSubnet
sufficient free Ipv4 addresses or prefixes
not enough free addresses in subnet
subnet does not have enough free addresses
InsufficientCidrBlocks
enough free cidr blocks
Unable to attach IPs/Prefixes for the ENI
subnet doesn't seem to have enough IPs
Recently we had InsufficientCidr
no valid subnets available for ENI creation
NetworkInterfaceLimitExceeded
AttachmentLimitExceeded
PrivateIpAddressLimitExceeded
as the max ENI limit
max ENI already attached
Exceeded instance ENI attachment limit
Exceeded instance eni attachment limit
no available device number
unknown instance type
RequestLimitExceeded
ThrottlingException
Throttling:
retry quota exceeded
UnauthorizedOperation
AccessDeniedException
AccessDenied
not authorized to perform
MissingIAMPermissions
due to missing permissions
is forbidden: User 
Unable to reach API Server
error communicating with apiserver
Failed to check API server connectivity
Proceeding without API server connectivity
Failed to communicate with K8S Server
Failed to get pod ENI config
error while retrieving eniconfig
eniconfig is not available
Failed to attach any ENIs for custom networking
EniConfigNameNotFound
find custom networking eniconfig name
IMDSRequestError
InvalidNetworkInterfaceID.NotFound
EC2MetadataRequestError
EC2MetadataError
ec2imds
from instance metadata
from metadata service
No ENI found at all in metadata
Instance metadata does not match data store
169.254.169.254
setupENINetwork:
eni network setup:
ENI network setup:
failed to set up ENI
Failed to set up ENI
failed to setup eni
Failed to setup eni
Failed to setup ENI
BranchAllocationFailed
TrunkENICreationFailed
BranchENIAnnotationFailed
failed to get Branch ENI resource
vpc.amazonaws.com/pod-eni
Branch ENI
branch ENI
trunk
no available IP/Prefix addresses
no available IP addresses
failed to assign an IP address to
Failed to assign an IP address to
127.0.0.1:50051: connect
ipamd.sock: connect
failed to connect service
panic: 
Initialization failure
initialization failure
Timed out waiting for IPAM daemon
timed out waiting for IPAM daemon
Failed to wait for IPAM daemon
EOF
# Drift guard: every literal of the classifier's table must be in the list.
grep -o 'lit: "[^"]*"' logparse/classify_match.go | sed 's/^lit: "//; s/"$//' | grep -v -x -e 'eni-' -e 'subnet-' |
  while IFS= read -r lit; do
    grep -qixF -- "$lit" "$work/literals.txt" || die "literal '$lit' of logparse is missing from the grep list"
  done

cat "$work/ipamd.log" >/dev/null # warm the page cache for every contender

# measure NAME OUTFILE CMD...: runs CMD $RUNS times, keeps the run with the least CPU time.
measure() {
  local name="$1" out="$2"
  shift 2
  local best="" bestcpu="" i wall user sys rss cpu
  for ((i = 0; i < RUNS; i++)); do
    /usr/bin/time -f '%e %U %S %M' -o "$work/$name.time" "$@" >"$out" 2>>"$work/$name.err" ||
      die "$name failed: $(tail -5 "$work/$name.err")"
    read -r wall user sys rss <"$work/$name.time"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')
    if [ -z "$best" ] || awk -v a="$cpu" -v b="$bestcpu" 'BEGIN{exit !(a<b)}'; then
      best="$wall $cpu $rss" bestcpu="$cpu"
    fi
  done
  echo "$best" >"$work/$name.best"
}

say "== (a) ipamwatch classify --summary  x$RUNS"
measure ipamwatch "$work/ipamwatch.out" "$work/ipamwatch" classify --summary "$work/ipamd.log"
say "== (b) grep -F -c -f literals.txt  x$RUNS"
# Not to /dev/null: GNU grep stops at the first match when its output is discarded.
measure grep "$work/grep.out" grep -F -c -f "$work/literals.txt" "$work/ipamd.log"

say "== (c) mtail --one_shot (one run)"
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port found"
progs="$work/progs"
mkdir -p "$progs"
cp bench/mtail/ipamd.mtail "$progs/"
RUNS_SAVE=$RUNS RUNS=1
measure mtail "$work/mtail.out" mtail --one_shot --one_shot_format prometheus --address 127.0.0.1 --port "$port" \
  --progs "$progs" --logs "$work/ipamd.log" --logtostderr
RUNS=$RUNS_SAVE

# Counts: ground truth, ipamwatch, mtail.
awk -F'"' '/:/{gsub(/[^0-9]/,"",$3); print $2, $3}' "$work/truth.json" | sort >"$work/truth.counts"
awk '$1 ~ /^[a-z0-9_]+$/ && $2 ~ /^[0-9]+$/ {print $1, $2}' "$work/ipamwatch.out" | sort >"$work/ipamwatch.counts"
sed -n 's/^ipamwatch_log_lines_total{class="\([a-z0-9_]*\)".*} \([0-9]*\)$/\1 \2/p' "$work/mtail.out" | sort >"$work/mtail.counts"
grep_lines=$(cat "$work/grep.out")
ok=1
if ! diff -u "$work/truth.counts" "$work/ipamwatch.counts" >&2; then say "ipamwatch counts differ from the generator's truth"; ok=0; fi
mtail_agrees=yes
diff -q "$work/truth.counts" "$work/mtail.counts" >/dev/null || mtail_agrees=no

read -r iw_wall iw_cpu iw_rss <"$work/ipamwatch.best"
read -r gr_wall gr_cpu gr_rss <"$work/grep.best"
read -r mt_wall mt_cpu mt_rss <"$work/mtail.best"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) b = 0.01; printf "%.2f", a/b }'; }
r_ig=$(ratio "$iw_cpu" "$gr_cpu")
r_ig_wall=$(ratio "$iw_wall" "$gr_wall")
r_mi=$(ratio "$mt_cpu" "$iw_cpu")
r_mi_wall=$(ratio "$mt_wall" "$iw_wall")
classified=$(awk '{s+=$2} END{print s+0}' "$work/ipamwatch.counts")

printf '\nclassify benchmark: %s lines, %s MiB, %s failure lines (truth), %s CPUs, load %s\n' \
  "$LINES" "$size_mb" "$classified" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %9s %9s %10s  %s\n' "contender" "wall s" "CPU s" "maxRSS MB" "result"
printf '%-34s %9s %9s %10s  %s\n' "ipamwatch classify --summary" "$iw_wall" "$iw_cpu" "$((iw_rss / 1024))" "$classified lines classified into $(wc -l <"$work/ipamwatch.counts") classes"
printf '%-34s %9s %9s %10s  %s\n' "grep -F -c -f literals.txt" "$gr_wall" "$gr_cpu" "$((gr_rss / 1024))" "$grep_lines lines contain a literal ($(wc -l <"$work/literals.txt") literals)"
printf '%-34s %9s %9s %10s  %s\n' "mtail --one_shot (ipamd.mtail)" "$mt_wall" "$mt_cpu" "$((mt_rss / 1024))" "counts agree with truth: $mtail_agrees"
printf 'ratio ipamwatch/grep  CPU %s (wall %s)   target <= 1.0\n' "$r_ig" "$r_ig_wall"
printf 'ratio mtail/ipamwatch CPU %s (wall %s)   target >= 50\n' "$r_mi" "$r_mi_wall"

[ "$ok" = 1 ] || exit 1
if [ "${STRICT:-0}" = 1 ]; then
  awk -v a="$r_ig" -v b="$r_mi" 'BEGIN{exit !(a <= 1.0 && b >= 50)}' || die "speed target missed"
fi
