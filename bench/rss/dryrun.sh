#!/usr/bin/env bash
# dryrun.sh: the floor of `chaosnight run --dry-run` of a small experiment,
# two binaries interleaved (compare.sh), against a sandbox of its own
# (kwok nodes, the seeded shop; no real node). Run it under the shared
# sandbox lock, from the repository's root:
#
#   flock /tmp/chaosnight-sandbox.lock bash bench/rss/dryrun.sh OLD NEW RUNS
#
# The sandbox binaries must be in the cache already (make sandbox-tools).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 OLD NEW RUNS" >&2
  exit 2
fi
old=$(realpath "$1") new=$(realpath "$2") runs=$3
root=$PWD
state=$(mktemp -d)
go build -o "$state/sandbox" ./test/sandbox/cmd/sandbox
"$state/sandbox" up -state "$state" -realnode=false >"$state/up.log" 2>&1 &
pid=$!
stop() {
  "$state/sandbox" down -state "$state" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$state"
}
trap stop EXIT
for _ in $(seq 1 1800); do
  [ -f "$state/env" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "sandbox up failed:" >&2
    cat "$state/up.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -f "$state/env" ] || { echo "sandbox not ready after 180 s" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/env"
exp=$root/experiments/sandbox/checkout-evict-one.yaml
echo "sandbox: kwok nodes, seeded shop; experiment ${exp#"$root"/}"
# The dry runs write their journals under ./journals: a directory of its own.
cd "$state"
# One run first, to show what the dry run did (its last lines).
"$new" run --dry-run "$exp" 2>&1 | tail -n 5 || true
bash "$root/bench/rss/compare.sh" "$old" "$new" "$runs" -- run --dry-run "$exp"
