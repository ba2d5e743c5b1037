#!/usr/bin/env bash
# make demo: the example chaos night against the sandbox. Builds chaosnight,
# starts the sandbox, runs one experiment that holds and one that does not,
# and, when the sandbox has its real node (root on Linux), a CPU stress on the
# real checkout pods whose measured latency decides the verdict; prints the
# verdicts and the journals, and stops the sandbox (also on Ctrl-C).
set -uo pipefail
cd "$(dirname "$0")/.."

make -s build || exit 3
make -s sandbox-up || exit 3
trap 'echo; echo "stopping the sandbox"; make -s sandbox-down' EXIT
# shellcheck disable=SC1091
. .sandbox/env

exps=(experiments/sandbox/checkout-evict-one.yaml experiments/sandbox/recommendations-single-replica.yaml)
if [ "${SANDBOX_REAL_SHOP:-}" = 1 ]; then
  echo "The checkout runs as real pods on the real node $SANDBOX_REAL_NODE: its latency and errors are measured."
  exps+=(experiments/sandbox/checkout-cpu-latency.yaml)
else
  echo "No real node in this sandbox (it needs root on Linux; .sandbox/up.log says why):"
  echo "the shop runs on kwok nodes with modelled traffic, and the CPU stress demo is left out."
fi

mkdir -p journals
declare -a summary
for exp in "${exps[@]}"; do
  name=$(basename "$exp" .yaml)
  journal="journals/demo-$name.json"
  echo
  echo "=== chaosnight run $exp"
  bin/chaosnight run "$exp" --journal "$journal"
  code=$?
  verdict=$(sed -n 's/^  "verdict": "\(.*\)",$/\1/p' "$journal" 2>/dev/null | head -1)
  summary+=("$(printf '%-40s %-9s exit %d  %s' "$name" "${verdict:-?}" "$code" "$journal")")
done

echo
echo "=== the night's verdicts"
printf '%s\n' "${summary[@]}"
echo
echo "Each journal holds the experiment, the seed, the targets, every probe sample and the reasons."
