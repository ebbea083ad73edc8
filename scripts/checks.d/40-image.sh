#!/usr/bin/env bash
# Container image check, offline. No registry is reachable in CI, so the golang and distroless
# stages of the Dockerfile cannot run; everything else is proved with the repository's own
# Dockerfile through its BINARY=prebuilt path:
#   1. compile static linux/amd64 and linux/arm64 binaries on the host with the image's flags
#      (CGO off, -trimpath, version stamped) and check their build info and ELF machine;
#   2. buildah-build the Dockerfile FROM scratch for both platforms;
#   3. run `ipamwatch version` inside the amd64 image and check the stamped version, the
#      entrypoint, the default arguments and the exposed port; check the arm64 image's
#      architecture and the AArch64 binary inside it.
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
mkdir -p "$tmp/ctx/dist"

# e_machine of an ELF file: 0x3e x86-64, 0xb7 AArch64.
elf_machine() {
  [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = 7f454c46 ] || { echo "not-elf"; return; }
  od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'
}

for arch in amd64 arm64; do
  bin="$tmp/ctx/dist/ipamwatch-linux-$arch"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X $pkg/internal/version.Version=$version -X $pkg/internal/version.Revision=$rev" \
    -o "$bin" ./cmd/ipamwatch
  info=$(go version -m "$bin")
  for want in "CGO_ENABLED=0" "-trimpath=true" "GOARCH=$arch" "GOOS=linux"; do
    grep -qF -- "$want" <<<"$info" || fail "$arch binary: build info lacks $want"
  done
  case "$arch" in amd64) want=3e00 ;; arm64) want=b700 ;; esac
  got=$(elf_machine "$bin")
  [ "$got" = "$want" ] || fail "$arch binary: ELF machine $got, want $want"
  echo "ok: linux/$arch binary: static (CGO_ENABLED=0), -trimpath, ELF machine 0x${want:0:2}, $(du -h "$bin" | cut -f1)"
done

for arch in amd64 arm64; do
  "${B[@]}" bud --quiet --isolation chroot --platform "linux/$arch" \
    --build-arg BASE_IMAGE=scratch --build-arg BINARY=prebuilt --build-arg VERSION="$version" \
    -f Dockerfile -t "localhost/ipamwatch:check-$arch" "$tmp/ctx" >"$tmp/bud-$arch.log" 2>&1 \
    || { cat "$tmp/bud-$arch.log" >&2; fail "buildah bud (linux/$arch) of Dockerfile"; }
done
echo "ok: buildah built Dockerfile (BINARY=prebuilt, BASE_IMAGE=scratch) for linux/amd64 and linux/arm64"

img=localhost/ipamwatch:check-amd64
cfg=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} {{.OCIv1.Config.ExposedPorts}} {{.OCIv1.Architecture}}' "$img")
[ "$cfg" = '[/usr/bin/ipamwatch] [run] map[9713/tcp:{}] amd64' ] || fail "image config: $cfg"
label=$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$img")
[ "$label" = "$version" ] || fail "image version label $label, want $version"
ctr=$("${B[@]}" from --quiet "$img")
out=$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/ipamwatch version)
case "$out" in
  "ipamwatch $version (revision $rev, "*" linux/amd64)") ;;
  *) fail "ipamwatch version inside the image printed: $out" ;;
esac
echo "ok: in the image: $out; entrypoint /usr/bin/ipamwatch, args [run], port 9713"

img=localhost/ipamwatch:check-arm64
a=$("${B[@]}" inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$img")
[ "$a" = linux/arm64 ] || fail "arm64 image platform $a"
ctr=$("${B[@]}" from --quiet --os linux --arch arm64 "$img")
mnt=$("${B[@]}" mount "$ctr")
got=$(elf_machine "$mnt/usr/bin/ipamwatch")
"${B[@]}" umount "$ctr" >/dev/null
[ "$got" = b700 ] || fail "arm64 image holds a binary with ELF machine $got"
echo "ok: arm64 image is linux/arm64 and holds an AArch64 binary"
