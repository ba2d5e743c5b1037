#!/usr/bin/env bash
# Build the sandbox binaries (Kubernetes 1.36.3 control plane, etcd 3.6.6,
# kwok 0.8.0) from the pinned modules in hack/tools into the user cache.
# Idempotent: when the cache is complete it returns at once. Set
# CHAOSNIGHT_SANDBOX_BIN to use (or fill) another directory.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./test/sandbox/cmd/sandbox tools "$@"
