#!/usr/bin/env bash
# Job queues side by side, in ONE run, interleaved (REPS rounds of catalog-cache, Bull,
# BullMQ), on this machine's Redis (127.0.0.1:6379, keys under prefixes of their own,
# removed afterwards): enqueue-and-process throughput of JOBS no-op jobs (added INFLIGHT
# at a time, run CONCURRENCY at once by one worker process) and p50/p99 enqueue-to-start
# latency. Results: bench/results/jobs-latest/{runs.jsonl,summary.md}.
#
#   bench/jobs/run.sh            # JOBS=10000 CONCURRENCY=50 INFLIGHT=32 REPS=3
#
# Needs: cargo, node/npm, PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export JOBS="${JOBS:-10000}" CONCURRENCY="${CONCURRENCY:-50}" INFLIGHT="${INFLIGHT:-32}"
REPS="${REPS:-3}"
OUT="${OUT:-bench/results/jobs-latest}"
mkdir -p "$OUT"
: >"$OUT/runs.jsonl"

(cd bench/jobs && npm ci --silent --no-audit --no-fund)
cargo build --release --quiet --example jobs_bench
RUST_BENCH="target/release/examples/jobs_bench"

for rep in $(seq 1 "$REPS"); do
  echo "jobs bench: round $rep of $REPS"
  RUST_LOG=error "$RUST_BENCH" | tee -a "$OUT/runs.jsonl"
  (cd bench/jobs && node bench.js bull) | tee -a "$OUT/runs.jsonl"
  (cd bench/jobs && node bench.js bullmq) | tee -a "$OUT/runs.jsonl"
done

# Median of the rounds per implementation.
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const by = {};
for (const l of lines) (by[l.impl] = by[l.impl] || []).push(l);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log("| queue | jobs/s (median) | p50 ms | p99 ms | rounds |");
console.log("|---|---|---|---|---|");
for (const [impl, runs] of Object.entries(by)) {
  console.log(`| ${impl} | ${median(runs.map((r) => r.jobsPerSec)).toFixed(0)} | ${median(runs.map((r) => r.p50Ms))} | ${median(runs.map((r) => r.p99Ms))} | ${runs.length} |`);
}
' "$OUT/runs.jsonl" | tee "$OUT/summary.md"
echo "JOBS=$JOBS CONCURRENCY=$CONCURRENCY INFLIGHT=$INFLIGHT REPS=$REPS" >>"$OUT/summary.md"
