#!/usr/bin/env bash
# In-pod benchmark of chaosnight's stress against Debian's stress-ng, side
# by side in one pod on the sandbox's real node. Writes
# bench/results-realnode.md. Needs root and the real node's cached
# binaries (bash hack/sandbox-tools.sh -realnode). Extra arguments go to
# the Go program (for example: -reps 1 -window 3s).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v stress-ng >/dev/null; then
	echo "installing Debian's stress-ng" >&2
	apt-get install -y stress-ng >/dev/null
fi
# Built before the lock is taken, so that compiling does not hold the
# machine's one sandbox slot.
bin=$(mktemp -d)/bench-realnode
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./bench/realnode
# Only one sandbox at a time on this machine (and one real node).
flock /tmp/chaosnight-sandbox.lock "$bin" "$@"
