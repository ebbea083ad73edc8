#!/usr/bin/env bash
# The tailer-library comparison harness (a separate module, so hpcloud/tail and nxadm/tail stay
# out of the main go.mod) still builds and its short tests pass, including the check that a
# naive follower is caught losing lines.
set -euo pipefail
cd "$(dirname "$0")/../../bench/tailcompare"
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
# -mod=mod: the module follows the main module through its replace directive, so a dependency
# bump there must not fail this check until someone re-tidies bench/tailcompare.
GOFLAGS=-mod=mod go vet .
GOFLAGS=-mod=mod go test -short -count=1 .
