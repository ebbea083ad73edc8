# ipamwatch: build, test, lint, bench. Every target exports the toolchain the module needs.
export GOTOOLCHAIN ?= go1.27.3
GO        ?= go
# Tools installed with `go install` (helm, golangci-lint, ec2-metadata-mock, ...) live here.
export PATH := $(shell go env GOPATH)/bin:$(PATH)
PKG       := github.com/ipamwatch/ipamwatch
# The version comes from the git tag (vX.Y.Z, see docs/release.md): X.Y.Z on a tagged commit,
# X.Y.Z-N-gHASH after it, 0.0.0-dev+HASH before the first tag; "-dirty" with local changes.
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION   ?= $(or $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null | sed 's/^v//'),0.0.0-dev+$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown))
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
# prometheus/common/version, as every Prometheus component stamps it (`ipamwatch --version`,
# ipamwatch_build_info). goreleaser (.goreleaser.yaml) sets the same variables for releases.
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
             -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
BIN       := bin/ipamwatch

.PHONY: all build test test-go test-scripts lint vet bench demo fuzz clean tools release-snapshot

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ipamwatch

# The DaemonSet image's binary: the agent without demo, subnets and maxpods' EC2 lookup
# (docs/performance.md). Those commands answer "not in this build" in it.
.PHONY: build-agent
build-agent:
	CGO_ENABLED=0 $(GO) build -trimpath -tags agentonly -ldflags '$(LDFLAGS)' -o bin/ipamwatch-agent ./cmd/ipamwatch

# The whole test suite: installs the external programs the integration tests drive (idempotent),
# then unit, golden, fuzz-seed, integration against real Prometheus/Alertmanager/IMDS mock, and
# the script checks (helm, kustomize, image, govulncheck).
test: tools build
	$(GO) vet ./...
	IPAMWATCH_REQUIRE_TOOLS=1 $(GO) test -count=1 -timeout 30m ./...
	bash scripts/run-checks.sh

test-go:
	$(GO) test -count=1 ./...

test-scripts: build
	bash scripts/run-checks.sh

lint:
	golangci-lint run ./...

bench: build
	bash bench/run-all.sh

demo: build
	./$(BIN) demo $(DEMO_ARGS)

fuzz:
	bash scripts/fuzz.sh 10s

tools:
	bash scripts/install-tools.sh

# Release artifacts without publishing: agent-only and full binaries for linux/amd64 and
# arm64, archives, sha256sums.txt and CycloneDX SBOMs in dist/ (docs/release.md). goreleaser
# and cyclonedx-gomod are tools of the separate module in tools/.
release-snapshot:
	bash scripts/release/goreleaser.sh release --snapshot --clean

clean:
	rm -rf bin dist
