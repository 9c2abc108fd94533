#!/usr/bin/env bash
# Another benchmark's summary for the report (bench/run.sh): its summary.md when it wrote
# one, else why not.
#   bench/report/include.sh <script> <its summary.md> <its exit status> <its output>
set -euo pipefail
script=$1; summary=$2; rc=$3; log=$4
if [ -s "$summary" ]; then
  # Its headings go below the report's "###" section heading.
  sed -E 's/^(#{1,3}) /\1### /' "$summary"
  [ "$rc" = 0 ] || { echo; echo "($script exited with status $rc; its output: \`$log\`.)"; }
else
  echo "not run to the end: \`$script\` exited with status $rc and wrote no summary; its last lines:"
  echo; echo '```'; tail -n 8 "$log"; echo '```'
fi
