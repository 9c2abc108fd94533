#!/usr/bin/env bash
# The propagation section of the report from bench/propagation's output (bench/run.sh).
#   bench/report/propagation.sh <propagation output> <its exit status> [<A's log> <B's log>]
set -euo pipefail
file=$1; rc=$2; writer_log=${3:-/dev/null}; reader_log=${4:-/dev/null}
line=$(grep '^RESULT' "$file" || true)
if [ -z "$line" ]; then
  echo "**Failed** (exit $rc), no result; the tool's last lines:"
  echo; echo '```'; tail -n 5 "$file"; echo '```'
  exit 0
fi
get() { sed -E "s/.* $1=([^ ]+).*/\1/" <<< " ${line#RESULT }"; }
ms() { if [ "$1" = NA ]; then echo NA; else printf '%.2f ms' "$(echo "scale=3; $1 / 1000" | bc)"; fi; }
echo "| clock starts at | p50 | p99 | max | min |"
echo "|---|---:|---:|---:|---:|"
echo "| A's answer to the PUT (the commit) | $(ms "$(get p50_us)") | $(ms "$(get p99_us)") | $(ms "$(get max_us)") | $(ms "$(get min_us)") |"
echo "| the PUT's send | $(ms "$(get send_p50_us)") | $(ms "$(get send_p99_us)") | $(ms "$(get send_max_us)") | |"
echo
echo "$(get writes) writes, $(get propagated) seen on B; $(get before_answer) of them before A's answer reached the"
echo "client (a negative time: B had dropped its L1 entry before the PUT's answer arrived);"
echo "old version served from below L1 to a read sent after the commit: $(get old_not_from_l1) times (must be 0); not"
echo "reached within the tool's time limit: $(get timed_out); polls of B: $(get polls); exit status $rc."
count() { grep -c "$1" "$2" || true; }
echo
echo "Logged during the whole run (a slow Redis explains a long tail: the write's invalidation"
echo "waits for Redis, retried every second, while the breaker is open): A $(count 'invalidation deferred' "$writer_log")"
echo "deferred invalidations and $(count 'circuit breaker is open' "$writer_log") refusals by an open breaker; B $(count 'circuit breaker is open' "$reader_log")"
echo "refusals by an open breaker and $(count 'clearing L1' "$reader_log") L1 clears after a lost subscription."
