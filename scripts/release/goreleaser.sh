#!/usr/bin/env bash
# Runs goreleaser at the version pinned in tools/go.mod, with cyclonedx-gomod (the SBOM
# generator .goreleaser.yaml calls) on PATH. Both are built from the Go module proxy once per
# tools/go.sum and kept in ~/.cache/ipamwatch/release-tools; the arguments go to goreleaser:
#   scripts/release/goreleaser.sh release --snapshot --clean    (make release-snapshot, CI)
#   scripts/release/goreleaser.sh release --clean --release-notes dist-notes.md   (a release)
# tools/ is a module of its own so that goreleaser's ~350 dependencies stay out of
# ipamwatch's go.mod (and out of its vulnerability scan and `go mod tidy`).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
sum=$(cat tools/go.mod tools/go.sum | sha256sum | cut -c1-16)
bin="${IPAMWATCH_RELEASE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ipamwatch/release-tools}/$sum"
if [ ! -x "$bin/goreleaser" ] || [ ! -x "$bin/cyclonedx-gomod" ]; then
  mkdir -p "$bin"
  echo "building goreleaser and cyclonedx-gomod from tools/go.mod into $bin" >&2
  (cd tools && go build -trimpath -o "$bin/goreleaser" github.com/goreleaser/goreleaser/v2 \
    && go build -trimpath -o "$bin/cyclonedx-gomod" github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod)
fi
# goreleaser reads the commit, branch and dates only when the clone has a remote (it asks for
# its URL first); a clone or worktree without one gets the project's URL through git's
# environment configuration, and the repository's own configuration is left alone.
if [ -z "$(git remote 2>/dev/null)" ]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/ipamwatch/ipamwatch.git
fi
PATH="$bin:$PATH" exec goreleaser "$@"
