#!/usr/bin/env bash
# The propagation section of the report from bench/propagation's output (bench/run.sh).
#   bench/report/propagation.sh <propagation output> <its exit status>
set -euo pipefail
file=$1; rc=$2
line=$(grep '^RESULT' "$file" || true)
if [ -z "$line" ]; then
  echo "**Failed** (exit $rc), no result; the tool's last lines:"
  echo; echo '```'; tail -n 5 "$file"; echo '```'
  exit 0
fi
get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<< " ${line#RESULT }"; }
ms() { if [ "$1" = NA ]; then echo NA; else echo "scale=2; $1 / 1000" | bc | sed 's/^\./0./'; fi; }
echo "| writes | reached B | p50 | p99 | max | seen at B's first poll | old version from below L1 | not reached in time |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| $(get writes) | $(get propagated) | $(ms "$(get p50_us)") ms | $(ms "$(get p99_us)") ms | $(ms "$(get max_us)") ms | $(get at_first_poll) | $(get old_not_from_l1) | $(get timed_out) |"
echo
echo "Polls of B in total: $(get polls) (exit status $rc; 0 means every write reached B in time and B"
echo "never served the old version from below L1 after the commit)."
