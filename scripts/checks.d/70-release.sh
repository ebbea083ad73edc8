#!/usr/bin/env bash
# Release check, offline (docs/release.md). Runs the release exactly as a tag would, in
# goreleaser's snapshot mode (nothing is published), then proves what it made:
#   1. goreleaser (pinned in tools/go.mod) validates .goreleaser.yaml and builds the agent-only
#      and the full binary for linux/amd64 and linux/arm64: archives, sha256sums.txt, one
#      CycloneDX SBOM per binary; the checksums verify, the archives hold the binary and the
#      docs, the SBOMs list the modules linked in (the EC2 client in the full build only), the
#      binaries are static, -trimpath, tagged as their variant, for the right CPU, and stamped
#      (--version: the snapshot version, the commit, goreleaser);
#   2. `make build` stamps prometheus/common/version the same way;
#   3. the Dockerfile's base image is pinned by digest; buildah builds it FROM scratch (no
#      registry is reachable in CI) from goreleaser's dist/: the agent image for amd64 and
#      arm64, the full one for amd64, with the OCI labels, entrypoint, arguments and port; in the
#      agent image `ipamwatch --version` says tags agentonly and `demo` answers "not in this
#      build" (exit 1); in the full image `demo --list-scenarios` works;
#   4. the chart follows the tag: set-version.sh rewrites Chart.yaml, the manifests and the
#      CHANGELOG of a copy, check-version.sh (goreleaser's first step) then accepts that
#      version and refuses another, and notes.sh prints the version's CHANGELOG section.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d)
B=(buildah --root "$tmp/storage" --runroot "$tmp/run" --storage-driver vfs)
cleanup() {
  if command -v buildah >/dev/null 2>&1; then
    "${B[@]}" rm --all >/dev/null 2>&1 || true
    "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. goreleaser, snapshot mode -----------------------------------------------------------
bash scripts/release/goreleaser.sh check >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log" >&2; fail "goreleaser check"; }
bash scripts/release/goreleaser.sh release --snapshot --clean >"$tmp/release.log" 2>&1 \
  || { tail -40 "$tmp/release.log" >&2; fail "goreleaser release --snapshot --clean"; }
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json)
[ -n "$version" ] || fail "no version in dist/metadata.json"
rev=$(git rev-parse HEAD)
echo "ok: goreleaser check and release --snapshot ($version)"

archives=()
for variant in "" "-agent"; do
  for arch in amd64 arm64; do
    archives+=("ipamwatch$variant-$version.linux-$arch.tar.gz" "ipamwatch$variant-$version.linux-$arch.cdx.json")
  done
done
for f in "${archives[@]}"; do
  [ -s "dist/$f" ] || fail "dist/$f missing"
  grep -qF "  $f" dist/sha256sums.txt || fail "sha256sums.txt does not list $f"
done
[ "$(wc -l <dist/sha256sums.txt)" = "${#archives[@]}" ] || fail "sha256sums.txt lists $(wc -l <dist/sha256sums.txt) files, want ${#archives[@]}"
(cd dist && sha256sum --quiet -c sha256sums.txt) || fail "sha256sums.txt does not verify"
echo "ok: 4 archives and 4 SBOMs, all in sha256sums.txt, which verifies"

elf_machine() { od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'; }
for variant in full agent; do
  for arch in amd64 arm64; do
    name=ipamwatch; [ "$variant" = agent ] && name=ipamwatch-agent
    a="dist/$name-$version.linux-$arch.tar.gz"
    list=$(tar -tzf "$a")
    for want in "$name-$version.linux-$arch/ipamwatch" "$name-$version.linux-$arch/LICENSE" \
                "$name-$version.linux-$arch/README.md" "$name-$version.linux-$arch/CHANGELOG.md"; do
      grep -qxF "$want" <<<"$list" || fail "$a lacks $want"
    done
    bin=$(ls -d dist/ipamwatch-${variant}_linux_${arch}*/ipamwatch)
    cmp -s "$bin" <(tar -xzOf "$a" "$name-$version.linux-$arch/ipamwatch") || fail "$a does not hold $bin"
    info=$(go version -m "$bin")
    for want in "CGO_ENABLED=0" "-trimpath=true" "GOARCH=$arch" "GOOS=linux"; do
      grep -qF -- "$want" <<<"$info" || fail "$bin: build info lacks $want"
    done
    if [ "$variant" = agent ]; then
      grep -qF -- "-tags=agentonly" <<<"$info" || fail "$bin: not built with -tags agentonly"
    elif grep -qF -- "-tags=" <<<"$info"; then
      fail "$bin: built with tags, want none"
    fi
    case "$arch" in amd64) want=3e00 ;; arm64) want=b700 ;; esac
    [ "$(elf_machine "$bin")" = "$want" ] || fail "$bin: ELF machine $(elf_machine "$bin"), want $want"
    sbom="dist/$name-$version.linux-$arch.cdx.json"
    jq -e '.bomFormat == "CycloneDX" and (.components | length) > 10' "$sbom" >/dev/null || fail "$sbom is not a CycloneDX document with components"
    jq -e '[.components[].purl] | any(startswith("pkg:golang/github.com/prometheus/client_golang@"))' "$sbom" >/dev/null \
      || fail "$sbom does not list client_golang"
    has_ec2=$(jq '[.components[].purl] | any(startswith("pkg:golang/github.com/aws/aws-sdk-go-v2/service/ec2@"))' "$sbom")
    [ "$has_ec2" = "$([ "$variant" = full ] && echo true || echo false)" ] || fail "$sbom: EC2 client listed=$has_ec2 for the $variant build"
  done
  bin=$(ls -d dist/ipamwatch-${variant}_linux_amd64*/ipamwatch)
  out=$("$bin" --version)
  tags=unknown; [ "$variant" = agent ] && tags=agentonly
  for want in "ipamwatch, version $version (branch: " "revision: $rev)" "build user:       goreleaser" "tags:             $tags"; do
    grep -qF -- "$want" <<<"$out" || fail "$variant --version lacks '$want':
$out"
  done
done
echo "ok: binaries static, -trimpath, tagged per variant, right ELF machine, stamped ($version, $rev); SBOMs list what is linked (EC2 client in the full build only)"

# --- 2. the Makefile's stamp ---------------------------------------------------------------
make -s build BIN="$tmp/make-ipamwatch" VERSION=1.2.3-makecheck >/dev/null
out=$("$tmp/make-ipamwatch" --version)
grep -qF "ipamwatch, version 1.2.3-makecheck (branch: " <<<"$out" && grep -qF "revision: $rev" <<<"$out" \
  || fail "make build: --version printed: $out"
echo "ok: make build stamps prometheus/common/version (1.2.3-makecheck, $rev)"

# --- 3. images ------------------------------------------------------------------------------
base=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
[[ "$base" =~ @sha256:[0-9a-f]{64}$ ]] || fail "Dockerfile's BASE_IMAGE is not pinned by digest: $base"
while read -r from; do
  case "$from" in '${BASE_IMAGE}'|scratch) ;; *@sha256:*) ;; *) fail "Dockerfile: FROM $from is not pinned by digest" ;; esac
done < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile)
echo "ok: Dockerfile's base image pinned by digest ($base)"

if ! command -v buildah >/dev/null 2>&1; then
  if [ "${IPAMWATCH_REQUIRE_TOOLS:-}" = 1 ]; then fail "buildah not found (run scripts/install-tools.sh)"; fi
  echo "SKIP: image part: buildah not installed (run scripts/install-tools.sh)"
else
  created=$(git log -1 --format=%cI)
  build_image() { # VARIANT ARCH
    "${B[@]}" bud --quiet --isolation chroot --platform "linux/$2" --build-arg BASE_IMAGE=scratch \
      --build-arg VARIANT="$1" --build-arg VERSION="$version" --build-arg REVISION="$rev" --build-arg CREATED="$created" \
      -f Dockerfile -t "localhost/ipamwatch:check-$1-$2" . >"$tmp/bud-$1-$2.log" 2>&1 \
      || { cat "$tmp/bud-$1-$2.log" >&2; fail "buildah bud ($1, linux/$2)"; }
  }
  build_image agent amd64
  build_image agent arm64
  build_image full amd64
  label() { "${B[@]}" inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1"; }
  img=localhost/ipamwatch:check-agent-amd64
  cfg=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} {{.OCIv1.Config.ExposedPorts}} {{.OCIv1.Architecture}}' "$img")
  [ "$cfg" = '[/usr/bin/ipamwatch] [run] map[9713/tcp:{}] amd64' ] || fail "image config: $cfg"
  for kv in "org.opencontainers.image.source=https://github.com/ipamwatch/ipamwatch" \
            "org.opencontainers.image.revision=$rev" "org.opencontainers.image.created=$created" \
            "org.opencontainers.image.version=$version" "org.opencontainers.image.licenses=Apache-2.0" \
            "io.github.ipamwatch.variant=agent"; do
    got=$(label "$img" "${kv%%=*}")
    [ "$got" = "${kv#*=}" ] || fail "agent image label ${kv%%=*}='$got', want '${kv#*=}'"
  done
  ctr=$("${B[@]}" from --quiet "$img")
  out=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch --version)
  grep -qF "ipamwatch, version $version" <<<"$out" && grep -qF "tags:             agentonly" <<<"$out" \
    || fail "ipamwatch --version inside the agent image printed: $out"
  set +e
  demo_err=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch demo 2>&1 >/dev/null)
  demo_code=$?
  set -e
  [ "$demo_code" = 1 ] && grep -qF "not in this build; use the full ipamwatch binary" <<<"$demo_err" \
    || fail "ipamwatch demo in the agent image: exit $demo_code: $demo_err"
  echo "ok: agent image: OCI labels (source, revision, created, version, licenses) and variant; entrypoint, [run], 9713; --version says agentonly; demo exits 1 'not in this build'"

  img=localhost/ipamwatch:check-agent-arm64
  [ "$("${B[@]}" inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$img")" = linux/arm64 ] || fail "arm64 image platform"
  ctr=$("${B[@]}" from --quiet --os linux --arch arm64 "$img")
  mnt=$("${B[@]}" mount "$ctr")
  got=$(elf_machine "$mnt/usr/bin/ipamwatch")
  "${B[@]}" umount "$ctr" >/dev/null
  [ "$got" = b700 ] || fail "arm64 image holds a binary with ELF machine $got"
  echo "ok: arm64 agent image is linux/arm64 and holds the AArch64 binary"

  img=localhost/ipamwatch:check-full-amd64
  [ "$(label "$img" io.github.ipamwatch.variant)" = full ] || fail "full image variant label"
  ctr=$("${B[@]}" from --quiet "$img")
  out=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch demo --list-scenarios) || fail "demo --list-scenarios failed in the full image"
  grep -q '^large ' <<<"$out" || fail "full image: demo --list-scenarios lacks the large scenario"
  echo "ok: full image: demo --list-scenarios lists $(wc -l <<<"$out") scenarios"
fi

# --- 4. the chart follows the tag -------------------------------------------------------------
copy="$tmp/repo"
mkdir -p "$copy/charts/ipamwatch"
cp -r manifests "$copy/"
cp charts/ipamwatch/Chart.yaml "$copy/charts/ipamwatch/"
cp CHANGELOG.md "$copy/"
ROOT="$copy" bash scripts/release/set-version.sh 9.8.7 >/dev/null
ROOT="$copy" bash scripts/release/check-version.sh 9.8.7 >/dev/null || fail "check-version refuses what set-version wrote"
! ROOT="$copy" bash scripts/release/check-version.sh 9.8.8 >/dev/null 2>&1 || fail "check-version accepts a tag the chart does not name"
grep -qx 'version: 9.8.7' "$copy/charts/ipamwatch/Chart.yaml" && grep -qx 'appVersion: "9.8.7"' "$copy/charts/ipamwatch/Chart.yaml" \
  || fail "set-version did not set Chart.yaml's version and appVersion"
[ "$(grep -rhoE --include='*.yaml' 'ghcr\.io/ipamwatch/ipamwatch(-full)?:[^" ]+' "$copy/manifests" | sed 's/.*://' | sort -u)" = 9.8.7 ] \
  || fail "set-version left other image tags in the manifests"
notes=$(ROOT="$copy" bash scripts/release/notes.sh 9.8.7)
[ -n "$notes" ] && ! grep -q '^## ' <<<"$notes" || fail "notes.sh 9.8.7 printed: $notes"
bash scripts/release/check-version.sh --snapshot >/dev/null || fail "the repository's chart and manifests disagree"
echo "ok: set-version.sh 9.8.7 on a copy: Chart.yaml version/appVersion, manifests and CHANGELOG follow; check-version accepts 9.8.7, refuses 9.8.8; notes.sh prints the section"
