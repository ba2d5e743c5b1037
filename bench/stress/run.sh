#!/usr/bin/env bash
# Side-by-side benchmark of chaosnight's stressor and Debian's stress-ng.
# Writes bench/results-stress.md. Extra arguments go to the Go program
# (for example: -reps 1 -window 3s).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v stress-ng >/dev/null; then
	echo "installing Debian's stress-ng" >&2
	apt-get install -y stress-ng >/dev/null
fi
exec go run ./bench/stress "$@"
