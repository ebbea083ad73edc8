#!/usr/bin/env bash
# Container image check, offline. No registry is reachable in CI, so the golang and distroless
# stages of the Dockerfile cannot run; everything else is proved with the repository's own
# Dockerfile through its BINARY=prebuilt path, for both variants:
#   agent (TAGS=agentonly, the Dockerfile's default; the DaemonSet image, tag :VERSION) and
#   full  (TAGS="", the subnets Deployment's image, tag :VERSION-full).
#   1. compile static binaries on the host with the image's flags (CGO off, -trimpath, version
#      stamped, the variant's tags): agent for linux/amd64 and linux/arm64, full for linux/amd64;
#      check their build info (tags included) and ELF machine;
#   2. buildah-build the Dockerfile FROM scratch for each of them;
#   3. in the amd64 agent image: `ipamwatch version` prints the stamped version, `ipamwatch demo`
#      answers "not in this build" with exit 2, and the entrypoint, default arguments, exposed
#      port and build-tags label are right; the arm64 image is linux/arm64 with an AArch64
#      binary; in the full image `ipamwatch demo --list-scenarios` works and the label is empty.
# buildah state lives in a temp dir (vfs driver, chroot isolation) and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
pkg=github.com/ipamwatch/ipamwatch

if ! command -v buildah >/dev/null 2>&1; then
  if [ "${IPAMWATCH_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "FAIL: buildah not found (run scripts/install-tools.sh)" >&2; exit 1
  fi
  echo "SKIP: buildah not installed (run scripts/install-tools.sh)"; exit 0
fi

tmp=$(mktemp -d)
B=(buildah --root "$tmp/storage" --runroot "$tmp/run" --storage-driver vfs)
cleanup() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
version="imagecheck-$rev"

# e_machine of an ELF file: 0x3e x86-64, 0xb7 AArch64.
elf_machine() {
  [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = 7f454c46 ] || { echo "not-elf"; return; }
  od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'
}

# build_bin VARIANT ARCH: the binary the Dockerfile's prebuilt stage copies, in its own context.
build_bin() {
  local variant=$1 arch=$2 tags=""
  [ "$variant" = agent ] && tags=agentonly
  local bin="$tmp/ctx-$variant/dist/ipamwatch-linux-$arch"
  mkdir -p "$(dirname "$bin")"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X $pkg/internal/version.Version=$version -X $pkg/internal/version.Revision=$rev" \
    -o "$bin" ./cmd/ipamwatch
  local info want got
  info=$(go version -m "$bin")
  for want in "CGO_ENABLED=0" "-trimpath=true" "GOARCH=$arch" "GOOS=linux"; do
    grep -qF -- "$want" <<<"$info" || fail "$variant $arch binary: build info lacks $want"
  done
  if [ -n "$tags" ]; then
    grep -qF -- "-tags=$tags" <<<"$info" || fail "$variant $arch binary: build info lacks -tags=$tags"
  elif grep -qF -- "-tags=" <<<"$info"; then
    fail "$variant $arch binary: built with tags, want none"
  fi
  case "$arch" in amd64) want=3e00 ;; arm64) want=b700 ;; esac
  got=$(elf_machine "$bin")
  [ "$got" = "$want" ] || fail "$variant $arch binary: ELF machine $got, want $want"
  echo "ok: $variant linux/$arch binary: static (CGO_ENABLED=0), -trimpath, tags '${tags}', ELF machine 0x${want:0:2}, $(du -h "$bin" | cut -f1)"
}

# build_image VARIANT ARCH [buildah args...]
build_image() {
  local variant=$1 arch=$2
  shift 2
  "${B[@]}" bud --quiet --isolation chroot --platform "linux/$arch" \
    --build-arg BASE_IMAGE=scratch --build-arg BINARY=prebuilt --build-arg VERSION="$version" "$@" \
    -f Dockerfile -t "localhost/ipamwatch:check-$variant-$arch" "$tmp/ctx-$variant" >"$tmp/bud-$variant-$arch.log" 2>&1 \
    || { cat "$tmp/bud-$variant-$arch.log" >&2; fail "buildah bud ($variant, linux/$arch) of Dockerfile"; }
}

build_bin agent amd64
build_bin agent arm64
build_bin full amd64
# The agent images take the Dockerfile's default TAGS; the full image says TAGS= explicitly.
build_image agent amd64
build_image agent arm64
build_image full amd64 --build-arg TAGS=
echo "ok: buildah built Dockerfile (BINARY=prebuilt, BASE_IMAGE=scratch): agent for linux/amd64 and linux/arm64, full for linux/amd64"

img=localhost/ipamwatch:check-agent-amd64
cfg=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} {{.OCIv1.Config.ExposedPorts}} {{.OCIv1.Architecture}}' "$img")
[ "$cfg" = '[/usr/bin/ipamwatch] [run] map[9713/tcp:{}] amd64' ] || fail "image config: $cfg"
label() { "${B[@]}" inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1"; }
l=$(label "$img" org.opencontainers.image.version)
[ "$l" = "$version" ] || fail "image version label $l, want $version"
l=$(label "$img" io.github.ipamwatch.build-tags)
[ "$l" = agentonly ] || fail "agent image build-tags label '$l', want agentonly (the Dockerfile's default TAGS)"
ctr=$("${B[@]}" from --quiet "$img")
out=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch version)
case "$out" in
  "ipamwatch $version (revision $rev, "*" linux/amd64)") ;;
  *) fail "ipamwatch version inside the image printed: $out" ;;
esac
set +e
demo_err=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch demo 2>&1 >/dev/null)
demo_code=$?
set -e
# buildah run passes the command's exit status through.
[ "$demo_code" = 2 ] || fail "ipamwatch demo in the agent image exited $demo_code, want 2 ($demo_err)"
case "$demo_err" in
  *"not in this build; use the full ipamwatch binary"*) ;;
  *) fail "ipamwatch demo in the agent image said: $demo_err" ;;
esac
echo "ok: in the agent image: $out; demo answers 'not in this build' (exit 2); entrypoint /usr/bin/ipamwatch, args [run], port 9713, build-tags agentonly"

img=localhost/ipamwatch:check-agent-arm64
a=$("${B[@]}" inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$img")
[ "$a" = linux/arm64 ] || fail "arm64 image platform $a"
ctr=$("${B[@]}" from --quiet --os linux --arch arm64 "$img")
mnt=$("${B[@]}" mount "$ctr")
got=$(elf_machine "$mnt/usr/bin/ipamwatch")
"${B[@]}" umount "$ctr" >/dev/null
[ "$got" = b700 ] || fail "arm64 image holds a binary with ELF machine $got"
echo "ok: arm64 image is linux/arm64 and holds an AArch64 binary"

img=localhost/ipamwatch:check-full-amd64
l=$(label "$img" io.github.ipamwatch.build-tags)
[ -z "$l" ] || fail "full image build-tags label '$l', want empty"
ctr=$("${B[@]}" from --quiet "$img")
out=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch demo --list-scenarios) || fail "ipamwatch demo --list-scenarios failed in the full image"
grep -q '^large ' <<<"$out" || fail "full image: demo --list-scenarios lacks the large scenario: $out"
echo "ok: full image (TAGS=): demo --list-scenarios lists $(wc -l <<<"$out") scenarios; build-tags label empty"
