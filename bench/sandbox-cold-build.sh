#!/usr/bin/env bash
# Measure a cold build of the sandbox binaries: empty Go build cache, empty
# module cache (everything downloaded from the module proxy), fresh output
# directory. Your real caches are not touched. Takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/chaosnight-coldbuild.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/sandbox" ./test/sandbox/cmd/sandbox   # with the normal caches: not measured
start=$(date +%s)
GOCACHE="$work/gocache" GOMODCACHE="$work/gomodcache" "$work/sandbox" tools -dest "$work/bin"
end=$(date +%s)
echo "cold build: $((end - start)) s on $(nproc) cores ($(go version | cut -d' ' -f3), $(date -u +%F))"
