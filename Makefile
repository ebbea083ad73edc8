# ipamwatch: build, test, lint, bench. Every target exports the toolchain the module needs.
export GOTOOLCHAIN ?= go1.27.3
GO        ?= go
# Tools installed with `go install` (helm, golangci-lint, ec2-metadata-mock, ...) live here.
export PATH := $(shell go env GOPATH)/bin:$(PATH)
PKG       := github.com/ipamwatch/ipamwatch
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Revision=$(REVISION)
BIN       := bin/ipamwatch

.PHONY: all build test test-go test-scripts lint vet bench demo fuzz clean tools

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

clean:
	rm -rf bin
