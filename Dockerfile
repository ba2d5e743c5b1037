# syntax=docker/dockerfile:1
#
# The chaosnight image: two static, non-root binaries. /chaosnight runs
# `chaosnight serve` (the Helm chart's Deployment) and every other command;
# /chaosnight-stress is the stress process alone, what the ephemeral
# containers and helper pods of stress experiments run: 3 MB and ~5 MiB
# resident in the target pod instead of the main binary's ~30 (it links no
# Kubernetes client).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t chaosnight .

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
COPY go.mod go.sum ./
COPY cmd/ cmd/
COPY pkg/ pkg/
# Static (no cgo), reproducible paths, version stamped as `make build` does;
# only the modules the binary needs are downloaded (the cache mounts keep
# them between builds).
# The binaries sit at /; symlinks in /usr/local/bin put them on the PATH,
# for the stress injector's default command (`chaosnight-stress ...`, and
# `chaosnight-stress stop` through exec) and for people (`kubectl exec ...
# -- chaosnight version`).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/rootfs/chaosnight ./cmd/chaosnight \
 && CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" \
      -o /out/rootfs/chaosnight-stress ./cmd/chaosnight-stress \
 && mkdir -p /out/rootfs/usr/local/bin \
 && ln -s /chaosnight /out/rootfs/usr/local/bin/chaosnight \
 && ln -s /chaosnight-stress /out/rootfs/usr/local/bin/chaosnight-stress

# distroless static, nonroot: no shell, no package manager, CA certificates
# and /etc/passwd for UID 65532 only. The time-zone database is embedded in
# the binary.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="chaosnight" \
      org.opencontainers.image.description="Hypothesis-based chaos experiments and chaos nights for Kubernetes" \
      org.opencontainers.image.source="https://github.com/chaosnight/chaosnight" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/rootfs/ /
USER 65532:65532
ENTRYPOINT ["/chaosnight"]
CMD ["--help"]
