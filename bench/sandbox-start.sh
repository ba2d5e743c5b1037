#!/usr/bin/env bash
# Measure warm sandbox starts (binaries already cached): time from Start to
# "API ready and Prometheus answering", with and without the seeded
# workload, N runs each (default 5). Prints one line per run and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
go test -count=1 -run '^$' -bench 'BenchmarkSandboxStart' -benchtime "${runs}x" ./bench/sandboxstart/ 2>&1 \
  | grep -E '(Benchmark|start (bare|seeded)|^goos|^goarch|^cpu|^ok|FAIL)' || true
