#!/usr/bin/env bash
# Invalidation propagation with an empty L1 against a full one whose entries go stale
# during the writes, in ONE run (same build, same machine state), loopback only.
#
#   bench/propagation-full.sh        # ~3 minutes; writes bench/results/propagation-full-latest/
#
# Each scenario starts two fresh release instances on a private redis-server: B (8190),
# the one polled, and A (8194), the writer; both keep L1 fresh for L1_TTL seconds
# (20) and serve it stale for STALE seconds (5), so the entries a fill phase leaves
# turn stale while bench/propagation writes.
#   empty  B's L1 holds only what the tool reads (200 products)
#   full   B's L1 first gets all 10,000 products and the 20 category lists from wrk
#          (8 s each), then the tool writes at once: every worker holds about 10,000
#          entries while its invalidations run, and they turn stale meanwhile
# A Python probe reads product 5 on B every 2 ms during the writes and counts answers
# slower than 20 ms (B unable to answer while it invalidates).
# Env: WRITES (1000) L1_TTL (20) STALE (5) REDIS_PORT (6397) OUT
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WRITES="${WRITES:-1000}"; L1_TTL="${L1_TTL:-20}"; STALE="${STALE:-5}"
REDIS_PORT="${REDIS_PORT:-6397}"; OUT="${OUT:-bench/results/propagation-full-latest}"
PEERS_BENCH="${PEERS_BENCH:-$ROOT/../shared/peers/bench}"
mkdir -p "$OUT"; rm -f "$OUT"/*
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

source bench/lib.sh
WORK=$(mktemp -d)
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

start_private_redis "$REDIS_PORT" "$WORK"
cargo build --release --quiet --bin catalog-cache
cargo build --release --quiet -p propagation
BIN=target/release/catalog-cache
export APP_ENV=production APP__LOG__LEVEL=warn HOST=127.0.0.1 APP__SERVER__WORKERS=2
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalog_cache_propagation_bench
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export SESSION_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export ADMIN_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export APP__RATE_LIMIT__ENABLED=false APP__SEED__DEMO_PRODUCTS=0
export APP__CACHE__L1_TTL_SECS="$L1_TTL" APP__CACHE__MAX_STALE_SECS="$STALE"
$BIN seed --products 10000 > /dev/null

probe() { # PORT SECONDS: reads product 5 every 2 ms; prints how many answers took > 20 ms
  python3 - "$1" "$2" <<'PY'
import http.client, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
start, reads, slow, worst = time.time(), 0, 0, 0.0
while time.time() - start < seconds:
    t = time.time(); conn.request("GET", "/api/products/5"); conn.getresponse().read()
    took = time.time() - t; reads += 1; worst = max(worst, took)
    slow += took > 0.02
    time.sleep(0.002)
print(f"PROBE reads={reads} slow={slow} worst_ms={worst * 1000:.1f}")
PY
}

scenario() { # NAME FILL(yes|no)
  local name=$1 fill=$2
  redis-cli -p "$REDIS_PORT" flushall > /dev/null
  env PORT=8190 REDIS_PREFIX=ccprop: $BIN serve > "$OUT/$name-b.log" 2>&1 & local b=$!
  env PORT=8194 REDIS_PREFIX=ccprop: $BIN serve > "$OUT/$name-a.log" 2>&1 & local a=$!
  PIDS+=("$b" "$a")
  wait_ready http://127.0.0.1:8190/healthz "$name-b"; wait_ready http://127.0.0.1:8194/healthz "$name-a"
  if [ "$fill" = yes ]; then
    IDS=10000 wrk -t2 -c32 -d8s -s "$PEERS_BENCH/ids.lua" http://127.0.0.1:8190 | grep RESULT > "$OUT/$name-fill.txt"
    wrk -t2 -c32 -d8s -s "$PEERS_BENCH/categories.lua" http://127.0.0.1:8190 | grep RESULT >> "$OUT/$name-fill.txt"
  fi
  probe 8190 30 > "$OUT/$name-probe.txt" & local p=$!
  local rc=0
  timeout 300 target/release/propagation --write-url http://127.0.0.1:8194 \
    --read-url http://127.0.0.1:8190 --writes "$WRITES" --first-id 9801 --ids 200 \
    --samples "$OUT/$name.tsv" > "$OUT/$name.txt" 2>&1 || rc=$?
  wait "$p" || true
  echo "$rc" > "$OUT/$name.rc"
  stop "$a"; stop "$b"
}

echo "bench/propagation-full.sh: $(date -u '+%F %H:%M UTC'), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
scenario empty no
scenario full yes
get() { sed -E "s/.* $2=([^ ]+).*/\1/" <<< " $(grep -h "^$1" "$3")"; }
ms() { printf '%.2f' "$(echo "scale=3; $1 / 1000" | bc)"; }
{
  echo "| L1 | p50 ms | p99 ms | max ms | old reads below L1 | B's answers > 20 ms (probe) | exit |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in empty full; do
    f="$OUT/$s.txt"; p="$OUT/$s-probe.txt"
    echo "| $s | $(ms "$(get RESULT p50_us "$f")") | $(ms "$(get RESULT p99_us "$f")") | $(ms "$(get RESULT max_us "$f")") | $(get RESULT old_not_from_l1 "$f") | $(get PROBE slow "$p") of $(get PROBE reads "$p") | $(cat "$OUT/$s.rc") |"
  done
  echo
  for q in p50_us p99_us; do
    echo "full / empty, $q: $(echo "scale=2; $(get RESULT $q "$OUT/full.txt") / $(get RESULT $q "$OUT/empty.txt")" | bc)"
  done
} | tee "$OUT/summary.md"
