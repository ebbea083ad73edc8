# ipamwatch container image: one static binary on a distroless base.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse --short HEAD) .
#
# TAGS picks the variant (Go build tags):
#   agentonly (default) the DaemonSet image, ghcr.io/ipamwatch/ipamwatch:VERSION. Its entrypoint
#             is `run`; demo, subnets and maxpods' EC2 lookups answer "not in this build"
#             (docs/performance.md: leaving them out halves the binary and cuts the agent's RSS).
#   ""        the full binary, for the subnets Deployment: build with --build-arg TAGS= and push
#             it as ghcr.io/ipamwatch/ipamwatch-full:VERSION (the manifests and the chart expect
#             that repository; docs/deploy.md says why not a tag suffix).
#
# BINARY picks where the binary comes from:
#   build    (default) compile it in the golang stage below, for TARGETARCH;
#   prebuilt copy dist/ipamwatch-linux-$TARGETARCH from the build context, compiled beforehand
#            with the same flags and -tags "$TAGS" (`make build-agent` / `make build`-style). CI
#            uses this path, with BASE_IMAGE=scratch, because no registry is reachable there
#            (scripts/checks.d/40-image.sh).
ARG GO_IMAGE=golang:1.27.3-bookworm
# The agent reads the root-owned ipamd.log, so the image's default user is root (the manifests
# also set runAsUser 0 and drop every capability); the subnets Deployment runs as 65532.
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:latest
ARG BINARY=build
ARG TAGS=agentonly

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
ARG TAGS
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -tags "${TAGS}" \
      -ldflags "-s -w -X github.com/ipamwatch/ipamwatch/internal/version.Version=${VERSION} -X github.com/ipamwatch/ipamwatch/internal/version.Revision=${REVISION}" \
      -o /out/ipamwatch ./cmd/ipamwatch

FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/ipamwatch-linux-${TARGETARCH} /out/ipamwatch

FROM ${BINARY} AS binary

FROM ${BASE_IMAGE}
ARG VERSION=dev
ARG TAGS
LABEL org.opencontainers.image.title="ipamwatch" \
      io.github.ipamwatch.build-tags="${TAGS}" \
      org.opencontainers.image.description="Why pods on Amazon EKS cannot get an IP address from the VPC CNI" \
      org.opencontainers.image.source="https://github.com/ipamwatch/ipamwatch" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=binary /out/ipamwatch /usr/bin/ipamwatch
EXPOSE 9713
ENTRYPOINT ["/usr/bin/ipamwatch"]
CMD ["run"]
