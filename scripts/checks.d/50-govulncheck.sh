#!/usr/bin/env bash
# govulncheck against a vulnerability database built on this machine (no network to
# vuln.go.dev here): the OSV records ship inside the golang.org/x/vulndb module, indexdb turns
# them into the layout govulncheck reads from file://. Fails on any vulnerability that is
# reachable from our code (govulncheck's default symbol-level mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export PATH="$(go env GOPATH)/bin:$PATH"

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
for tool in govulncheck indexdb; do
  command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/install-tools.sh" >&2; exit 1; }
done

src="$(go env GOMODCACHE)/golang.org/x/vulndb@${VULNDB_VERSION}/data/osv"
if [ ! -d "$src" ]; then
  # Only the module download is needed (it is data, not a dependency of ours).
  (cd "$(mktemp -d)" && go mod download "golang.org/x/vulndb@${VULNDB_VERSION}") >/dev/null
fi
[ -d "$src" ] || { echo "vulndb OSV data not found at $src" >&2; exit 1; }

# Build the index once per vulndb version and keep it in the Go cache directory.
db="$(go env GOCACHE)/ipamwatch-vulndb-${VULNDB_VERSION}"
if [ ! -f "$db/index/db.json" ]; then
  tmp="$(mktemp -d)"
  indexdb -vulns "$src" -out "$tmp/db" >/dev/null
  rm -rf "$db"; mkdir -p "$(dirname "$db")"; mv "$tmp/db" "$db"; rm -rf "$tmp"
fi
echo "govulncheck $(go env GOVERSION) against vulndb ${VULNDB_VERSION}"
govulncheck -db "file://$db" ./...
