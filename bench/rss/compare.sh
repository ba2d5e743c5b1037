#!/usr/bin/env bash
# compare.sh: peak resident memory (ru_maxrss, GNU time's %M) of two
# chaosnight binaries running the same command, interleaved (old, new, old,
# new...) so that both see the same machine; the figure moves by about ±2 MiB
# between builds and with the load, so compare within one run only.
#
#   bash bench/rss/compare.sh OLD NEW RUNS -- version
#   bash bench/rss/compare.sh OLD NEW RUNS -- run --dry-run experiments/sandbox/checkout-evict-one.yaml
#
# Prints the conditions (UTC date, load average before and after, kernel,
# cores), each run, then min / median / max per binary in MiB. The exit code
# of the command is shown, not judged (a dry run that ends "skipped" exits 2).
set -euo pipefail
if [ $# -lt 4 ] || [ "$4" != "--" ]; then
  echo "usage: $0 OLD NEW RUNS -- ARGS..." >&2
  exit 2
fi
old=$1 new=$2 runs=$3
shift 4
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "date: $(date -u +'%Y-%m-%d %H:%M UTC'); kernel $(uname -r); $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: chaosnight $*"
for i in $(seq 1 "$runs"); do
  for which in old new; do
    bin=$old
    [ "$which" = new ] && bin=$new
    rc=0
    /usr/bin/time -f %M -o "$out/t" "$bin" "$@" >"$out/stdout" 2>"$out/stderr" || rc=$?
    kib=$(tail -n1 "$out/t")
    echo "$kib" >>"$out/$which"
    echo "run $i $which: $kib KiB (exit $rc)"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for which in old new; do
  sort -n "$out/$which" | awk -v w="$which" '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    printf "%s: min %.1f MiB, median %.1f MiB, max %.1f MiB (%d runs)\n", w, v[1]/1024, m/1024, v[NR]/1024, NR }'
done
