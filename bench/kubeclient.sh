#!/usr/bin/env bash
# How the agent's Kubernetes client was chosen: what client-go's rest client (without the typed
# clientset, scheme and k8s.io/api) costs a program, against plain net/http. Two tiny programs
# (bench/kubeclient/rest and bench/kubeclient/nethttp) read a Node 30 times over TLS with a token
# and print their memory; each is built like the agent (CGO_ENABLED=0, -trimpath, -s -w) and run
# three times.
# Ends with: kubeclient: rest +<bytes> bytes binary, +<KiB> KiB RSS over net/http
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
declare -A size rss
for p in nethttp rest; do
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/$p" "./bench/kubeclient/$p"
  size[$p]=$(stat -c %s "$work/$p")
  best=0
  for _ in 1 2 3; do
    out="$("$work/$p")"
    echo "$p: $(tr '\n' ' ' <<<"$out")"
    r=$(awk '$1 == "VmRSS:" { print $2 }' <<<"$out")
    ((r > best)) && best=$r
  done
  rss[$p]=$best
  echo "$p: binary ${size[$p]} bytes, RSS peak of 3 runs ${rss[$p]} KiB"
done
echo "kubeclient: rest +$((size[rest] - size[nethttp])) bytes binary, +$((rss[rest] - rss[nethttp])) KiB RSS over net/http"
