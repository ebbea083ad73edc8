# ipamwatch container image: one static binary on a distroless base. As in Prometheus's own
# images, the binary is the release build's (goreleaser, .goreleaser.yaml), copied from dist/,
# not compiled in a golang stage: the image then holds exactly the binary whose checksum and
# SBOM the release publishes.
#
#   make release-snapshot    # or the release itself: dist/ipamwatch-{agent,full}_linux_{amd64,arm64}*/
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=X.Y.Z --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(git log -1 --format=%cI) -t ghcr.io/ipamwatch/ipamwatch:X.Y.Z .
#   ... the same with --build-arg VARIANT=full -t ghcr.io/ipamwatch/ipamwatch-full:X.Y.Z .
#
# VARIANT picks the binary:
#   agent (default) `-tags agentonly`: the DaemonSet image. Its entrypoint is `run`; demo,
#                   subnets and maxpods' EC2 lookups answer "not in this build" (exit 1;
#                   docs/performance.md: leaving them out halves the binary and the agent's RSS).
#   full            every command, for the subnets Deployment (ghcr.io/ipamwatch/ipamwatch-full;
#                   docs/deploy.md says why a repository of its own, not a tag suffix).
#
# The base is pinned by digest (the multi-arch index of distroless static-debian12 :latest, the
# root-user tag: the agent reads the root-owned ipamd.log; the manifests still set runAsUser 0
# and drop every capability, and the subnets Deployment runs as 65532). Renovate or a person
# moves the digest: `crane digest gcr.io/distroless/static-debian12:latest`. CI builds with
# BASE_IMAGE=scratch because no registry is reachable there (scripts/checks.d/70-release.sh).
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:latest@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2

FROM ${BASE_IMAGE}
ARG TARGETARCH
ARG VARIANT=agent
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="ipamwatch" \
      org.opencontainers.image.description="Why pods on Amazon EKS cannot get an IP address from the VPC CNI" \
      org.opencontainers.image.source="https://github.com/ipamwatch/ipamwatch" \
      org.opencontainers.image.url="https://github.com/ipamwatch/ipamwatch" \
      org.opencontainers.image.documentation="https://github.com/ipamwatch/ipamwatch/blob/main/docs/deploy.md" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.github.ipamwatch.variant="${VARIANT}"
COPY dist/ipamwatch-${VARIANT}_linux_${TARGETARCH}*/ipamwatch /usr/bin/ipamwatch
EXPOSE 9713
ENTRYPOINT ["/usr/bin/ipamwatch"]
CMD ["run"]
